"""inv setup-cicd against moto server, through the CLI, as test_setup_cicd.py and test_doctor.py
drive it: this repository's GitHub slug, production's CodeDeploy settings (load balancer and
hooks) added to a project, the ECS service the infrastructure would have made, Lambda hook
functions, and clients of moto."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

from tests.conftest import MotoServer, Project

REPO_SLUG = "acme/gamepulse"
ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
SUB = "token.actions.githubusercontent.com:sub"
LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/gp/0123456789abcdef/fedcba"
)
CODEDEPLOY_ROLE = "gamepulse-codedeploy"
# what production needs for setup-cicd to create its deployment group
LOAD_BALANCER = f"""service_role = "{CODEDEPLOY_ROLE}"
target_groups = ["gamepulse-blue", "gamepulse-green"]
prod_listener_arn = "{LISTENER}"
"""


def client(aws: MotoServer, name: str) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name=REGION)


def role(env: str) -> str:
    return f"gamepulse-{env}-deploy"


def codedeploy_config(project: Project, extra: str) -> None:
    """Add keys to production's [target.codedeploy] table (TOML cannot open it twice)."""
    path = project.path / "deploy" / "environments" / "production.toml"
    anchor = 'deployment_config = "CodeDeployDefault.ECSCanary10Percent5Minutes"\n'
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + extra))


def ecs_service(aws: MotoServer, env: str, controller: str = "CODE_DEPLOY") -> None:
    """The environment's service, as the infrastructure would have created it."""
    ecs = client(aws, "ecs")
    ecs.create_cluster(clusterName="gamepulse-cluster")
    arn = ecs.register_task_definition(
        family=f"gamepulse-{env}",
        containerDefinitions=[{"name": "gamepulse", "image": "busybox", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="gamepulse-cluster",
        serviceName=f"gamepulse-{env}",
        taskDefinition=arn,
        desiredCount=1,
        deploymentController={"type": controller},
    )


def setup(project: Project, aws: MotoServer, *args: str) -> Any:
    return project.inv("setup-cicd", "--repo", REPO_SLUG, *args, extra_env=aws.env())


def lambda_function(aws: MotoServer, name: str) -> None:
    iam = client(aws, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    client(aws, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=arn,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )


HOOKS = 'hooks = { AfterAllowTraffic = "gp-smoke", BeforeAllowTraffic = "gp-gate" }\n'
