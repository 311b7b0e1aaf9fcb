"""SNS publish for deployment notifications (e-mail, chat bridges, ticketing)."""

from __future__ import annotations

from shipyard.adapters.aws import AwsClients, translate_errors

# SNS rejects subjects over 100 characters
_SUBJECT_MAX = 100


def publish(
    aws: AwsClients,
    topic_arn: str,
    subject: str,
    message: str,
    attributes: dict[str, str] | None = None,
) -> str:
    """Publish one message; returns its message id. Raises AwsError on failure."""
    attrs = {
        key: {"DataType": "String", "StringValue": value}
        for key, value in (attributes or {}).items()
        if value
    }
    with translate_errors(f"sns:Publish {topic_arn}"):
        response = aws.client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject[:_SUBJECT_MAX],
            Message=message,
            MessageAttributes=attrs,
        )
    return str(response["MessageId"])
