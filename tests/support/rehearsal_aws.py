"""The AWS side of a workflow rehearsal, on moto in server mode and the local registry.

    seed(endpoint, repository)        what `inv setup-cicd` and the first releases leave: the
                                      cluster, the ECR repository, staging's rolling service,
                                      production's CODE_DEPLOY service (one PRIMARY task set),
                                      its CodeDeploy application and deployment group, target
                                      groups and listener, production's alarm
    EcrDataPlane(...).mirror(digest)  what a `docker push` to ECR leaves: moto's ECR has no data
                                      plane, so the build job pushes to the local registry, and
                                      the manifest it pushed (same bytes, same digest, every tag
                                      on it) is put into moto's ECR, with the basic scan result
                                      ECR reports for it
    EcsSite(...)                      the environment's URL: answers as the sample app's tasks
                                      of an ECS service answer (app/handler.sh: /health, /version
                                      with the APP_VERSION baked into the image) for the image
                                      the service serves now (its PRIMARY deployment, or PRIMARY
                                      task set), read from the registry's copy of that image

The site reads moto's backend in this process, so it needs the in-process moto server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from tests.support.moto_rollforward import push_image

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
CLUSTER = "gamepulse-cluster"
STAGING = "gamepulse-staging"
PRODUCTION = "gamepulse-production"
ECR_SERVER = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
MANIFESTS = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def clients(endpoint: str) -> dict[str, Any]:
    kw = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing-secret-key-value",
    }
    names = ("ecs", "ecr", "codedeploy", "elbv2", "ec2", "cloudwatch")
    return {name: boto3.client(name, **kw) for name in names}  # type: ignore[call-overload]


# -- the local registry as ECR's data plane ------------------------------------------------------


@dataclass(frozen=True)
class LocalRegistry:
    """The OCI distribution API of the local registry (127.0.0.1:5000), read-only."""

    address: str
    username: str
    password: str

    def _get(self, path: str, accept: str | None = None) -> tuple[dict[str, str], bytes]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        if accept:
            headers["Accept"] = accept
        req = urllib.request.Request(f"http://{self.address}{path}", headers=headers)
        with _OPENER.open(req, timeout=10) as resp:
            return dict(resp.headers), resp.read()

    def tags(self, repository: str) -> list[str]:
        try:
            _, body = self._get(f"/v2/{repository}/tags/list")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        return list(json.loads(body).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, the manifest's exact bytes)."""
        headers, body = self._get(f"/v2/{repository}/manifests/{reference}", accept=MANIFESTS)
        lower = {k.lower(): v for k, v in headers.items()}
        return lower["docker-content-digest"], lower["content-type"].split(";")[0], body

    def image_env(self, repository: str, digest: str) -> dict[str, str]:
        """The environment baked into the image `digest` (its config blob's Env)."""
        _, media_type, body = self.manifest(repository, digest)
        doc = json.loads(body)
        if media_type.endswith(("index.v1+json", "list.v2+json")):
            first = doc["manifests"][0]["digest"]
            doc = json.loads(self.manifest(repository, first)[2])
        _, config = self._get(f"/v2/{repository}/blobs/{doc['config']['digest']}")
        env = (json.loads(config).get("config") or {}).get("Env") or []
        return dict(item.split("=", 1) for item in env if "=" in item)


@dataclass
class EcrDataPlane:
    """Puts into moto's ECR what a push to ECR would have left there (see module doc)."""

    registry: LocalRegistry
    endpoint: str
    repository: str
    mirrored: dict[str, list[str]] = field(default_factory=dict)  # digest -> tags

    def mirror(self, digest: str) -> list[str]:
        ecr = clients(self.endpoint)["ecr"]
        tags = []
        for tag in self.registry.tags(self.repository):
            held, media_type, body = self.registry.manifest(self.repository, tag)
            if held != digest:
                continue
            tags.append(tag)
            with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
                ecr.put_image(
                    repositoryName=self.repository,
                    imageManifest=body.decode(),
                    imageManifestMediaType=media_type,
                    imageTag=tag,
                    imageDigest=digest,
                )
        if not tags:
            raise AssertionError(f"the local registry holds no tag of {digest} to mirror")
        self.clean_scan(digest)
        self.mirrored[digest] = tags
        return tags

    def clean_scan(self, digest: str) -> None:
        """The basic scan result ECR gives the busybox sample app: no findings (moto's own
        default answer is a made-up HIGH finding, CVE-9999-9999)."""
        result = {
            "registryId": ACCOUNT,
            "repositoryName": self.repository,
            "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed."},
            "imageScanFindings": {"findings": [], "findingSeverityCounts": {}},
        }
        body = json.dumps({"results": [result], "region": REGION}).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/moto-api/static/ecr/scan-finding-results",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        _OPENER.open(req, timeout=10).read()


# -- moto seeded as after set-up ------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    live_digest: str  # the image both services ran before the rehearsal
    staging_taskdef: str
    production_taskdef: str
    target_groups: tuple[str, str]
    listener: str


def _taskdef(ecs: Any, family: str, image: str, version: str, cpu: str, memory: str) -> str:
    return str(
        ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu=cpu,
            memory=memory,
            containerDefinitions=[
                {
                    "name": "gamepulse",
                    "image": image,
                    "essential": True,
                    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                }
            ],
            tags=[
                {"key": "shipyard:version", "value": version},
                {"key": "shipyard:outcome", "value": "succeeded"},
            ],
        )["taskDefinition"]["taskDefinitionArn"]
    )


def seed(endpoint: str, repository: str, *, live: str = "0.1.0") -> Seeded:
    """The AWS account after set-up and a first release of `live` to both environments."""
    aws = clients(endpoint)
    ecs, ecr, cd, elb, ec2 = aws["ecs"], aws["ecr"], aws["codedeploy"], aws["elbv2"], aws["ec2"]
    ecs.create_cluster(clusterName=CLUSTER)
    ecr.create_repository(
        repositoryName=repository,
        imageTagMutability="MUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )
    digest = push_image(ecr, repository, live)
    image = f"{ECR_SERVER}/{repository}@{digest}"
    staging = _taskdef(ecs, STAGING, image, live, "512", "1024")
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=STAGING,
        taskDefinition=staging,
        desiredCount=2,
        launchType="FARGATE",
    )
    production = _taskdef(ecs, PRODUCTION, image, live, "1024", "2048")
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=PRODUCTION,
        taskDefinition=production,
        desiredCount=2,
        launchType="FARGATE",
        deploymentController={"type": "CODE_DEPLOY"},
    )
    first = ecs.create_task_set(
        cluster=CLUSTER,
        service=PRODUCTION,
        taskDefinition=production,
        externalId="d-INITIAL",
        launchType="FARGATE",
    )["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster=CLUSTER, service=PRODUCTION, primaryTaskSet=first)

    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "c"))
    ]
    lb = elb.create_load_balancer(Name="gamepulse-production", Subnets=subnets)
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    groups = []
    for colour in ("blue", "green"):
        tg = elb.create_target_group(
            Name=f"gamepulse-production-{colour}",
            Protocol="HTTP",
            Port=8080,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
        )
        groups.append(tg["TargetGroups"][0]["TargetGroupArn"])
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
    )["Listeners"][0]["ListenerArn"]

    cd.create_application(applicationName="gamepulse", computePlatform="ECS")
    cd.create_deployment_group(
        applicationName="gamepulse",
        deploymentGroupName=PRODUCTION,
        serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/gamepulse-codedeploy",
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        deploymentStyle={
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": 5,
            },
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        },
        loadBalancerInfo={
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [
                        {"name": "gamepulse-production-blue"},
                        {"name": "gamepulse-production-green"},
                    ],
                    "prodTrafficRoute": {"listenerArns": [listener]},
                }
            ]
        },
        ecsServices=[{"serviceName": PRODUCTION, "clusterName": CLUSTER}],
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    )
    aws["cloudwatch"].put_metric_alarm(
        AlarmName=f"{PRODUCTION}-5xx",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    return Seeded(digest, staging, production, (groups[0], groups[1]), listener)


# -- what serves ------------------------------------------------------------------------------


def serving_task_definition(cluster: str, service: str) -> str | None:
    """The task definition ECS serves for the service now: its PRIMARY deployment's (rolling)
    or its PRIMARY task set's (CodeDeploy), read from moto's backend in this process."""
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[ACCOUNT][REGION]
    svc = backend.services.get(f"{cluster}:{service}")
    if svc is None:
        return None
    for task_set in svc.task_sets:
        if task_set.status == "PRIMARY":
            return str(task_set.task_definition)
    for deployment in svc.deployments:
        if deployment.get("status") == "PRIMARY":
            return str(deployment.get("taskDefinition"))
    return str(svc.task_definition) if svc.task_definition else None


def serving_image(cluster: str, service: str, container: str = "gamepulse") -> str | None:
    from moto.ecs.models import ecs_backends

    arn = serving_task_definition(cluster, service)
    if arn is None:
        return None
    taskdef = ecs_backends[ACCOUNT][REGION].describe_task_definition(arn)
    for definition in taskdef.container_definitions:
        if definition.get("name") == container:
            return str(definition.get("image"))
    return None


def serving_digest(cluster: str, service: str) -> str | None:
    image = serving_image(cluster, service)
    return image.split("@", 1)[1] if image and "@" in image else None


class EcsSite:
    """The environment's URL (see module doc); start() and stop()."""

    def __init__(self, registry: LocalRegistry, repository: str, service: str, port: int) -> None:
        self.registry = registry
        self.repository = repository
        self.service = service
        self.port = port
        self.requests: list[tuple[str, int, str]] = []  # path, status, body
        self._env: dict[str, dict[str, str]] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path: str) -> tuple[int, str]:
        """What the service's tasks answer for `path` (app/handler.sh's rules)."""
        digest = serving_digest(CLUSTER, self.service)
        if digest is None:
            return 503, "no task serves"
        if digest not in self._env:
            try:
                self._env[digest] = self.registry.image_env(self.repository, digest)
            except urllib.error.HTTPError:
                return 503, f"the tasks cannot pull {digest[:19]}"
        env = self._env[digest]
        path = path.split("?", 1)[0]
        if path in ("/health", "/health/"):
            return (200, "ok") if env.get("HEALTHY", "true") == "true" else (500, "unhealthy")
        if path == "/version":
            return 200, env.get("APP_VERSION", "")
        if path == "/":
            return 200, f"gamepulse {env.get('APP_VERSION')} ({env.get('APP_REVISION')})"
        return 404, "not found"

    def start(self) -> EcsSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, text = site.answer(self.path)
                site.requests.append((self.path, status, text))
                body = (text + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
