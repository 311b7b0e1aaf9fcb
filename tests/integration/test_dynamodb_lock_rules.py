"""The AWS deploy lock's rules, exactly: who gets the lock and who is refused (free, held,
expired at the configured age, the same run again, an item without expiry or token), the words
naming the holder and the hint, release and `free` only by the token's owner, a missing table
(created on first use, or the error and its hint), and the lock table's check and creation as
sent to DynamoDB. moto server for behaviour; botocore's Stubber with the real DynamoDB model for
the exact parameters and error codes."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from shipyard.adapters.aws import AwsClients
from shipyard.adapters.lock_table import LockTable
from shipyard.config.aws import AwsConfig
from shipyard.errors import AwsError, LockHeld, UsageError
from shipyard.locking.base import Freed, LockInfo
from shipyard.locking.dynamodb import DynamoDbLock
from shipyard.operations.setup_cicd import _lock_table
from tests.conftest import MotoServer
from tests.support.ecs_stubs import creds
from tests.support.manual_clock import ManualClock
from tests.support.time_zone import local_time_zone

__all__ = ["creds"]  # the fixture the Stubber tests use

REGION = "ap-northeast-2"
TABLE = "locks"
HINT = (
    "wait for that run to finish, pass --lock-wait SECONDS, or free it with "
    "`inv lock --env staging --release --force` if it is stale"
)
SINCE = "1970-01-01 09:16:40"  # epoch 1000 in KST-9
KEY = {"lock_id": {"S": "staging"}}
GET = {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}


@pytest.fixture
def kst() -> Iterator[None]:
    """Local time nine hours ahead of UTC: the holder's `since` is shown in local time."""
    with local_time_zone("KST-9"):
        yield


class Clock(ManualClock):
    def __init__(self, now: float = 1000.0) -> None:
        super().__init__(now)


def lock(clients: AwsClients, clock: Clock, owner: str, run: str, **kw: Any) -> DynamoDbLock:
    return DynamoDbLock(
        clients,
        table=TABLE,
        environment="staging",
        ttl_seconds=60,
        owner=owner,
        run=run,
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


def refusal(candidate: DynamoDbLock, message: str = "deploy 1.2.0", wait: float = 0.0) -> str:
    with pytest.raises(LockHeld) as err:
        candidate.acquire(message, wait=wait)
    assert err.value.hint == HINT
    return err.value.message


def raw_item(aws: MotoServer) -> dict[str, Any] | None:
    ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name=REGION)
    return ddb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True).get("Item")


# -- who gets the lock, who is refused, in which words (moto) --------------------------------------
def test_held_refused_with_who_since_expiry_and_message_then_taken_at_its_age(
    aws: MotoServer, kst: None
) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    alice = lock(clients, clock, "alice", "run-a")
    bob = lock(clients, clock, "bob", "run-b")
    taken = alice.acquire("deploy 1.1.0")
    assert (taken.owner, taken.since, taken.expires, taken.run) == (
        "alice",
        1000.0,
        1060.0,
        "run-a",
    )
    clock.now = 1010.7
    said = "the staging deploy lock is held by alice since " + SINCE + ", expires in 49s"
    assert refusal(bob) == said + ": 'deploy 1.1.0'"
    assert refusal(alice) == said + ": 'deploy 1.1.0'"  # the same run again: refused too
    held = bob.status()
    assert held == LockInfo(
        owner="alice",
        since=1000.0,
        message="deploy 1.1.0",
        expires=1060.0,
        host=socket.gethostname(),
        pid=os.getpid(),
        token=taken.token,
        run="run-a",
    )
    clock.now = 1059.9  # not yet expired
    assert "held by alice" in refusal(bob)
    clock.now = 1060.0  # expired at exactly the configured age: free, and taken over
    assert bob.status() is None
    assert bob.acquire("deploy 1.2.0").owner == "bob"
    item = raw_item(aws)
    assert item is not None
    assert item["owner"] == {"S": "bob"}
    assert item["expires_at"] == {"N": "1121"}


def test_an_empty_message_is_not_shown(aws: MotoServer, kst: None) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    lock(clients, clock, "alice", "run-a").acquire("")
    clock.now = 1030.0
    said = refusal(lock(clients, clock, "bob", "run-b"))
    assert said == f"the staging deploy lock is held by alice since {SINCE}, expires in 30s"


def test_an_item_without_expiry_or_token_is_held_forever_and_never_reported_freed(
    aws: MotoServer, kst: None
) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    LockTable(clients, TABLE).create()
    ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name=REGION)
    hand_made = {**KEY, "owner": {"S": "ops"}, "since": {"N": "1000"}}
    ddb.put_item(TableName=TABLE, Item={**hand_made, "message": {"S": "maintenance"}})
    clock.now = 10**9
    bob = lock(clients, clock, "bob", "run-b")
    assert refusal(bob) == f"the staging deploy lock is held by ops since {SINCE}: 'maintenance'"
    holder = bob.status()
    assert holder == LockInfo(owner="ops", since=1000.0, message="maintenance")
    assert bob.free_exactly(holder) is False
    with pytest.raises(LockHeld) as err:
        bob.force_release()
    assert err.value.message == "the staging deploy lock kept changing hands; try again"
    assert raw_item(aws) is not None
    ddb.put_item(TableName=TABLE, Item=hand_made)  # no message either
    assert refusal(bob) == f"the staging deploy lock is held by ops since {SINCE}"


def test_waiting_polls_until_the_holder_expires_or_the_wait_ends(aws: MotoServer) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    lock(clients, clock, "alice", "run-a").acquire("deploy 1.1.0")
    bob = lock(clients, clock, "bob", "run-b")
    clock.now = 1040.0
    assert "expires in 15s" in refusal(bob, wait=5)
    assert clock.pauses == [2.0, 2.0, 1.0]
    clock.now, clock.pauses = 1040.0, []
    assert bob.acquire("deploy 1.2.0", wait=30).since == 1060.0
    assert clock.pauses == [2.0] * 10


# -- release and free: only the token's owner, or --force ------------------------------------------
def test_release_and_free_exactly_by_another_token_delete_nothing(aws: MotoServer) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    alice = lock(clients, clock, "alice", "run-a")
    bob = lock(clients, clock, "bob", "run-b")
    bob.release()  # holds nothing
    taken = alice.acquire("deploy 1.1.0")
    forged = LockInfo(owner="alice", since=1000.0, message="", token="0" * 32)
    assert bob.free_exactly(forged) is False
    assert (alice.status() or forged).token == taken.token
    clock.now = 1060.0
    bob.acquire("deploy 1.2.0")
    alice.release()  # expired and taken over: bob's now, not deleted, no error
    assert (bob.status() or forged).owner == "bob"
    bob.release()
    assert raw_item(aws) is None
    bob.release()  # a second release is a no-op


def test_free_frees_this_runs_lock_keeps_another_runs_and_force_frees_any(
    aws: MotoServer,
) -> None:
    clients, clock = AwsClients(AwsConfig(region=REGION)), Clock()
    mine = lock(clients, clock, "ci (first job)", "run-a")
    same_run = lock(clients, clock, "ci (second job)", "run-a")
    other = lock(clients, clock, "bob", "run-b")
    assert same_run.free() == Freed()
    taken = mine.acquire("deploy 1.1.0")
    assert other.free() == Freed(kept=taken)
    assert raw_item(aws) is not None
    assert same_run.free() == Freed(freed=taken)
    assert raw_item(aws) is None
    taken = mine.acquire("deploy 1.1.1")
    assert other.force_release() == taken
    assert raw_item(aws) is None
    assert other.force_release() is None


# -- the exact calls (Stubber, real DynamoDB model) ------------------------------------------------
def stubbed(**kw: Any) -> tuple[DynamoDbLock, Stubber]:
    clients = AwsClients(AwsConfig(region=REGION))
    stub = Stubber(clients.client("dynamodb"))
    stub.activate()
    return lock(clients, Clock(1000.5), "alice", "run-a", **kw), stub


PUT = {
    "TableName": TABLE,
    "Item": {
        **KEY,
        "owner": {"S": "alice"},
        "message": {"S": "deploy 1.1.0"},
        "since": {"N": "1000.5"},
        "expires": {"N": "1060.5"},
        "expires_at": {"N": "1061"},
        "host": {"S": socket.gethostname()},
        "pid": {"N": str(os.getpid())},
        "token": {"S": ANY},
        "run": {"S": "run-a"},
    },
    "ConditionExpression": "attribute_not_exists(#key) OR #expires <= :now",
    "ExpressionAttributeNames": {"#key": "lock_id", "#expires": "expires"},
    "ExpressionAttributeValues": {":now": {"N": "1000.5"}},
}


def delete(token: str) -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": KEY,
        "ConditionExpression": "#token = :token",
        "ExpressionAttributeNames": {"#token": "token"},
        "ExpressionAttributeValues": {":token": {"S": token}},
    }


def item(token: str, run: str = "run-b") -> dict[str, Any]:
    return {
        "Item": {
            **KEY,
            "owner": {"S": "bob"},
            "since": {"N": "1000"},
            "expires": {"N": "5000"},
            "token": {"S": token},
            "run": {"S": run},
        }
    }


def test_the_put_the_release_and_a_lock_freed_between_refusal_and_read(creds: None) -> None:
    alice, stub = stubbed()
    stub.add_response("put_item", {}, PUT)
    taken = alice.acquire("deploy 1.1.0")
    assert len(taken.token) == 32
    stub.add_response("delete_item", {}, delete(taken.token))
    alice.release()
    stub.add_client_error("put_item", "ConditionalCheckFailedException", expected_params=PUT)
    stub.add_response("get_item", {}, GET)
    with pytest.raises(LockHeld) as err:
        alice.acquire("deploy 1.1.0")
    assert err.value.message == "the staging deploy lock is held (just freed; try again)"
    assert err.value.hint == HINT
    stub.assert_no_pending_responses()


def test_free_gives_up_after_five_lost_races_and_says_so(creds: None) -> None:
    alice, stub = stubbed()
    for n in range(5):
        stub.add_response("get_item", item(f"t{n}"), GET)
        stub.add_client_error(
            "delete_item", "ConditionalCheckFailedException", expected_params=delete(f"t{n}")
        )
    with pytest.raises(LockHeld) as err:
        alice.free(force=True)
    assert err.value.message == "the staging deploy lock kept changing hands; try again"
    stub.assert_no_pending_responses()


def test_a_table_deleted_under_free_is_not_held_but_under_release_is_an_error(
    creds: None,
) -> None:
    alice, stub = stubbed()
    stub.add_response("get_item", item("t1", run="run-a"), GET)
    stub.add_client_error("delete_item", "ResourceNotFoundException", expected_params=delete("t1"))
    stub.add_client_error("get_item", "ResourceNotFoundException", expected_params=GET)
    assert alice.free() == Freed()
    stub.add_response("put_item", {}, PUT)
    taken = alice.acquire("deploy 1.1.0")
    stub.add_client_error(
        "delete_item", "ResourceNotFoundException", expected_params=delete(taken.token)
    )
    with pytest.raises(AwsError) as err:
        alice.release()
    assert err.value.message == "dynamodb:DeleteItem locks: ResourceNotFoundException"
    stub.assert_no_pending_responses()


CREATE = {
    "TableName": TABLE,
    "AttributeDefinitions": [{"AttributeName": "lock_id", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "lock_id", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}
ACTIVE = {"Table": {"TableName": TABLE, "TableStatus": "ACTIVE"}}
MISSING = "the lock table 'locks' does not exist"
MISSING_HINT = "create it (partition key lock_id, string) or set lock.table"


def test_a_missing_table_is_created_once_then_the_lock_is_taken(creds: None) -> None:
    alice, stub = stubbed()
    stub.add_client_error("put_item", "ResourceNotFoundException", expected_params=PUT)
    stub.add_response("create_table", {}, CREATE)
    stub.add_response("describe_table", ACTIVE, {"TableName": TABLE})
    stub.add_response("put_item", {}, PUT)
    assert alice.acquire("deploy 1.1.0").owner == "alice"
    # created meanwhile by someone else, and still missing on the second try: said, not retried
    stub.add_client_error("put_item", "ResourceNotFoundException", expected_params=PUT)
    stub.add_client_error("create_table", "ResourceInUseException", expected_params=CREATE)
    stub.add_response("describe_table", ACTIVE, {"TableName": TABLE})
    stub.add_client_error("put_item", "ResourceNotFoundException", expected_params=PUT)
    with pytest.raises(AwsError) as err:
        alice.acquire("deploy 1.1.0")
    assert (err.value.message, err.value.hint) == (MISSING, MISSING_HINT)
    stub.assert_no_pending_responses()


def test_a_missing_table_with_creation_off_is_an_error_and_nothing_is_created(
    creds: None,
) -> None:
    alice, stub = stubbed(create_table=False)
    stub.add_client_error("put_item", "ResourceNotFoundException", expected_params=PUT)
    with pytest.raises(AwsError) as err:
        alice.acquire("deploy 1.1.0")
    assert (err.value.message, err.value.hint) == (MISSING, MISSING_HINT)
    stub.assert_no_pending_responses()


def test_table_calls_refused_by_aws_name_the_call(creds: None) -> None:
    clients = AwsClients(AwsConfig(region=REGION))
    stub = Stubber(clients.client("dynamodb"))
    stub.activate()
    table = LockTable(clients, TABLE)
    stub.add_client_error("create_table", "LimitExceededException", "too many tables", 400, CREATE)
    with pytest.raises(AwsError) as err:
        table.create()
    assert (
        err.value.message == "dynamodb:CreateTable locks: LimitExceededException: too many tables"
    )
    stub.add_client_error("describe_table", "AccessDeniedException", "", 400, {"TableName": TABLE})
    with pytest.raises(AwsError) as err:
        table.partition_keys()
    assert err.value.message == (
        "dynamodb:DescribeTable locks: access denied: these credentials may not perform "
        "dynamodb:DescribeTable"
    )
    stub.add_response("describe_table", {"Table": {"TableName": TABLE}}, {"TableName": TABLE})
    assert table.partition_keys() == []  # a description without a key schema: no lock_id
    stub.assert_no_pending_responses()


# -- the lock table's check and creation (moto; setup-cicd's check) ----------------------------
def test_the_table_is_created_with_the_lock_key_on_demand_and_checked(aws: MotoServer) -> None:
    clients = AwsClients(AwsConfig(region=REGION))
    table = LockTable(clients, TABLE)
    assert table.describe() is None
    assert table.partition_keys() is None
    notes: list[tuple[str, ...]] = []
    _lock_table(clients, TABLE, False, lambda *a: notes.append(a), "would ")
    assert table.describe() is None  # a dry run creates nothing
    _lock_table(clients, TABLE, True, lambda *a: notes.append(a), "")
    _lock_table(clients, TABLE, True, lambda *a: notes.append(a), "")
    detail = ("partition key lock_id, on-demand", "dynamodb:CreateTable locks")
    assert notes == [
        ("lock table", TABLE, "would create", *detail),
        ("lock table", TABLE, "create", *detail),
        ("lock table", TABLE, "unchanged"),
    ]
    described = table.describe()
    assert described is not None
    assert described["TableName"] == TABLE
    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == [{"AttributeName": "lock_id", "KeyType": "HASH"}]
    assert described["AttributeDefinitions"] == [{"AttributeName": "lock_id", "AttributeType": "S"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table.partition_keys() == ["lock_id"]


def test_a_table_with_another_key_is_refused_naming_its_key(aws: MotoServer) -> None:
    clients = AwsClients(AwsConfig(region=REGION))
    clients.client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "lock_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "id", "KeyType": "HASH"},
            {"AttributeName": "lock_id", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    assert LockTable(clients, TABLE).partition_keys() == ["id"]
    with pytest.raises(UsageError) as err:
        _lock_table(clients, TABLE, True, lambda *_: None, "")
    assert err.value.message == (
        "the lock table 'locks' exists with partition key ['id'], not ['lock_id']"
    )
    assert err.value.hint == "set lock.table to another name or delete that table"


def test_lock_calls_refused_by_aws_name_the_call(creds: None) -> None:
    alice, stub = stubbed()
    stub.add_client_error("put_item", "ValidationException", "bad item", 400, PUT)
    with pytest.raises(AwsError) as err:
        alice.acquire("deploy 1.1.0")
    assert err.value.message == "dynamodb:PutItem locks: ValidationException: bad item"
    stub.add_client_error("get_item", "ValidationException", "bad key", 400, GET)
    with pytest.raises(AwsError) as err:
        alice.status()
    assert err.value.message == "dynamodb:GetItem locks: ValidationException: bad key"
    stub.add_client_error("delete_item", "ValidationException", "bad token", 400, delete("t1"))
    with pytest.raises(AwsError) as err:
        alice.free_exactly(LockInfo(owner="bob", since=1000.0, message="", token="t1"))
    assert err.value.message == "dynamodb:DeleteItem locks: ValidationException: bad token"
    stub.assert_no_pending_responses()
