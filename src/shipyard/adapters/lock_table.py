"""The DynamoDB table of the AWS deploy lock: one item per environment, keyed by KEY.

Every write is conditional, so the answers are what the lock logic needs: written or not,
deleted or not, the item or None. A missing table is its own answer (MissingTable), because the
lock creates the table on first use.
"""

from __future__ import annotations

from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors

KEY = "lock_id"  # the table's partition key: the environment's name
CONDITION_FAILED = "ConditionalCheckFailedException"
NOT_FOUND = "ResourceNotFoundException"


class MissingTable(Exception):
    """The lock table does not exist."""


class LockTable:
    def __init__(self, aws: AwsClients, table: str) -> None:
        self.aws = aws
        self.table = table

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb")

    def put_if_free(self, item: dict[str, Any], now: float) -> bool:
        """Write `item` unless a lock item of its key exists that has not expired at `now`;
        whether it was written. Raises MissingTable."""
        import botocore.exceptions as bx

        try:
            self._client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#key) OR #expires <= :now",
                ExpressionAttributeNames={"#key": KEY, "#expires": "expires"},
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        except bx.ClientError as exc:
            code = error_code(exc)
            if code == CONDITION_FAILED:
                return False
            if code == NOT_FOUND:
                raise MissingTable(self.table) from None
            with translate_errors(f"dynamodb:PutItem {self.table}"):
                raise
        return True

    def get(self, key: str) -> dict[str, Any] | None:
        """The item of `key` (consistent read), or None: no item, or no table."""
        import botocore.exceptions as bx

        try:
            answer = self._client.get_item(
                TableName=self.table, Key={KEY: {"S": key}}, ConsistentRead=True
            )
        except bx.ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            with translate_errors(f"dynamodb:GetItem {self.table}"):
                raise
        item = answer.get("Item")
        return dict(item) if item else None

    def delete_if_token(self, key: str, token: str, *, missing_table_is_false: bool) -> bool:
        """Delete the item of `key` only while it carries `token`; whether it was deleted."""
        import botocore.exceptions as bx

        try:
            self._client.delete_item(
                TableName=self.table,
                Key={KEY: {"S": key}},
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except bx.ClientError as exc:
            code = error_code(exc)
            if code == CONDITION_FAILED or (code == NOT_FOUND and missing_table_is_false):
                return False
            with translate_errors(f"dynamodb:DeleteItem {self.table}"):
                raise
        return True

    def describe(self) -> dict[str, Any] | None:
        """The table's description, or None when it does not exist."""
        import botocore.exceptions as bx

        try:
            return dict(self._client.describe_table(TableName=self.table)["Table"])
        except bx.ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                with translate_errors(f"dynamodb:DescribeTable {self.table}"):
                    raise
        return None

    def partition_keys(self) -> list[str] | None:
        """The names of the table's partition keys, or None when it does not exist."""
        described = self.describe()
        if described is None:
            return None
        return [
            k["AttributeName"] for k in described.get("KeySchema", []) if k["KeyType"] == "HASH"
        ]

    def create(self) -> None:
        """Create the table (partition key KEY, on-demand billing) and wait until it is active;
        one created meanwhile by someone else is as good."""
        import botocore.exceptions as bx

        try:
            self._client.create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except bx.ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                with translate_errors(f"dynamodb:CreateTable {self.table}"):
                    raise
        with translate_errors(f"dynamodb:DescribeTable {self.table}"):
            self._client.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
