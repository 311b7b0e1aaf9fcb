"""deploy/iam/github-actions-policy.json allows exactly what shipyard calls in CI, nothing more,
and each environment's rendering of it names only that environment.

The set of AWS operations is derived statically from src/shipyard: every method call (and
get_paginator/get_waiter name) that is an operation of a service the code creates a client
for, mapped to its IAM action through botocore's own service model. Where a method name exists
in several of those services, the enclosing `translate_errors("svc:Op …")` label, then a client
created in the same function, then one created in the same module decides.

Admin-time code is derived separately and kept out on purpose: setup-cicd and doctor (and the
adapters only they use) run with an administrator's credentials, never in CI. So is
operator-time code: inv exec and inv run (docs/operate.md) start tasks and shells with a
person's credentials; the deploy role gets no ecs:RunTask or ecs:ExecuteCommand.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.conftest import REPO

SRC = REPO / "src" / "shipyard"
POLICY = REPO / "deploy" / "iam" / "github-actions-policy.json"
ADMIN_TIME = {
    "operations/setup_cicd.py",
    "operations/setup_cicd_policy.py",
    "operations/setup_cicd_codedeploy.py",
    "operations/doctor.py",
    "adapters/codedeploy_setup.py",
    "adapters/iam_setup.py",
    "adapters/awslambda.py",
    "adapters/aws_readiness.py",
}
OPERATOR_TIME = {"adapters/ecs_tasks.py", "operations/ecs_exec_run.py"}
# adapters whose calls are admin-time only: nothing CI runs may import them
ADMIN_ADAPTERS = {
    "shipyard.adapters.codedeploy_setup",
    "shipyard.adapters.iam_setup",
    "shipyard.adapters.awslambda",
    "shipyard.adapters.aws_readiness",
}

# What shipyard makes happen without a boto3 call of its own: `docker push`/`pull` after the
# ECR login talk to the registry data plane, which IAM authorises with these actions.
DOCKER_DATA_PLANE = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
}
# RegisterTaskDefinition with taskRoleArn/executionRoleArn is authorised as iam:PassRole;
# CreateDeployment also as GetDeploymentConfig (on the deployment config it names) and as
# RegisterApplicationRevision (its AppSpec content becomes a revision of the application).
IMPLIED = {
    "iam:PassRole",
    "codedeploy:GetDeploymentConfig",
    "codedeploy:RegisterApplicationRevision",
}
# IAM's prefix where it differs from botocore's signing name
IAM_PREFIX = {"monitoring": "cloudwatch"}


@dataclass
class ServiceModel:
    name: str
    prefix: str
    methods: dict[str, str]  # snake_case method -> API operation
    waiters: dict[str, str] = field(default_factory=dict)


@cache
def service_models(names: frozenset[str]) -> dict[str, ServiceModel]:
    import botocore.session

    session = botocore.session.get_session()
    models = {}
    for name in sorted(names):
        client = session.create_client(
            name, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
        )
        signing = client.meta.service_model.signing_name
        waiters = {w: client.get_waiter(w).config.operation for w in client.waiter_names}
        models[name] = ServiceModel(
            name, IAM_PREFIX.get(signing, signing), dict(client.meta.method_to_api_mapping), waiters
        )
    return models


def _modules(admin: bool = False, operator: bool = False) -> Iterator[tuple[str, ast.Module]]:
    """CI-time modules, or with `admin` the admin-time ones, or with `operator` those only a
    person runs."""
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC))
        if (rel in OPERATOR_TIME) == operator and (operator or (rel in ADMIN_TIME) == admin):
            yield rel, ast.parse(path.read_text())


def _created_services(node: ast.AST) -> set[str]:
    found = set()
    for call in ast.walk(node):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "client"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        ):
            found.add(call.args[0].value)
    return found


def _label(with_node: ast.With) -> str | None:
    """'ecs' from `with translate_errors(f"ecs:UpdateService {x}")`."""
    for item in with_node.items:
        call = item.context_expr
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "translate_errors":
            text = ast.unparse(call.args[0]) if call.args else ""
            head = text.lstrip("f").strip("'\"").split(":", 1)[0]
            return head if head.isalnum() else None
    return None


class _Collector(ast.NodeVisitor):
    def __init__(self, rel: str, module_services: set[str], models: dict[str, ServiceModel]):
        self.rel = rel
        self.module_services = module_services
        self.models = models
        self.labels: list[str] = []
        self.function_services: list[set[str]] = [set()]
        self.found: dict[str, list[str]] = defaultdict(list)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function_services.append(_created_services(node))
        self.generic_visit(node)
        self.function_services.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_With(self, node: ast.With) -> None:
        label = _label(node)
        if label:
            self.labels.append(label)
        self.generic_visit(node)
        if label:
            self.labels.pop()

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            self._record(node)
        self.generic_visit(node)

    def _record(self, node: ast.Call) -> None:
        assert isinstance(node.func, ast.Attribute)
        name = node.func.attr
        arg = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        candidates: list[tuple[ServiceModel, str]] = []
        for model in self.models.values():
            if name == "get_paginator" and arg in model.methods:
                candidates.append((model, model.methods[str(arg)]))
            elif name == "get_waiter" and arg in model.waiters:
                candidates.append((model, model.waiters[str(arg)]))
            elif name in model.methods:
                candidates.append((model, model.methods[name]))
        if len(candidates) > 1:
            for narrowing in (
                {m.prefix for m, _ in candidates} & set(self.labels[-1:]),
                {m.name for m, _ in candidates} & self.function_services[-1],
                {m.name for m, _ in candidates} & self.module_services,
            ):
                if narrowing:
                    candidates = [
                        (m, op)
                        for m, op in candidates
                        if m.prefix in narrowing or m.name in narrowing
                    ]
                    break
        for model, operation in candidates:
            self.found[f"{model.prefix}:{operation}"].append(f"{self.rel}:{node.lineno}")


@cache
def derived_actions(admin: bool = False, operator: bool = False) -> dict[str, list[str]]:
    """IAM action -> where in src/shipyard it is called (in CI, or with `admin` by setup-cicd
    and doctor, or with `operator` by inv exec and inv run)."""
    modules = list(_modules(admin, operator))
    services = frozenset(set().union(*(_created_services(tree) for _, tree in modules)))
    models = service_models(services)
    found: dict[str, list[str]] = defaultdict(list)
    for rel, tree in modules:
        collector = _Collector(rel, _created_services(tree), models)
        collector.visit(tree)
        for action, places in collector.found.items():
            found[action].extend(places)
    return dict(found)


def allowed_actions(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def test_policy_allows_exactly_what_the_code_calls() -> None:
    derived = derived_actions()
    wanted = set(derived) | DOCKER_DATA_PLANE | IMPLIED
    allowed = allowed_actions(json.loads(POLICY.read_text()))
    missing = sorted(wanted - allowed)
    extra = sorted(allowed - wanted)
    report = []
    if missing:
        report.append("MISSING from the policy (the code calls them):")
        report += [f"  {a}    <- {', '.join(derived.get(a, ['implied'])[:3])}" for a in missing]
    if extra:
        report.append("EXTRA in the policy (nothing calls them):")
        report += [f"  {a}" for a in extra]
    assert not report, f"{POLICY.relative_to(REPO)} is out of date:\n" + "\n".join(report)


def test_the_derivation_sees_known_calls() -> None:
    derived = derived_actions()
    # this module's own calls, and a waiter/label-disambiguated one from the lock
    assert "ecr:PutImage" in derived
    assert any("adapters/ecr_tags.py" in p for p in derived["ecr:BatchGetImage"])
    assert "sns:Publish" in derived
    # the deploy's own CodeDeploy calls are CI-time
    assert {"codedeploy:CreateDeployment", "codedeploy:StopDeployment"} <= set(derived)
    # setup-cicd's IAM calls are admin-time and must not leak into the CI policy
    assert not [a for a in derived if a.startswith("iam:")]


def test_admin_time_calls_are_derived_and_kept_out_of_the_ci_policy() -> None:
    admin = derived_actions(admin=True)
    assert {
        "lambda:GetFunction",
        "codedeploy:CreateApplication",
        "codedeploy:CreateDeploymentGroup",
        "codedeploy:GetApplication",
        "codedeploy:GetDeploymentGroup",
        "iam:CreateRole",
        "iam:CreatePolicy",
    } <= set(admin)
    ci = set(derived_actions()) | DOCKER_DATA_PLANE | IMPLIED
    leaked = (set(admin) - ci) & allowed_actions(json.loads(POLICY.read_text()))
    assert leaked == set(), f"admin-time actions in the CI policy: {sorted(leaked)}"


def test_operator_time_calls_are_derived_and_kept_out_of_the_ci_policy() -> None:
    operator = derived_actions(operator=True)
    assert {"ecs:RunTask", "ecs:StopTask", "ecs:ExecuteCommand"} <= set(operator)
    ci = set(derived_actions()) | DOCKER_DATA_PLANE | IMPLIED
    leaked = (set(operator) - ci) & allowed_actions(json.loads(POLICY.read_text()))
    assert leaked == set(), f"operator-time actions in the CI policy: {sorted(leaked)}"


def test_admin_time_adapters_are_used_by_admin_time_code_only() -> None:
    users = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if set(names) & ADMIN_ADAPTERS:
                users.append(f"{rel}:{node.lineno}")
    assert users == [], f"CI-time code imports admin-time adapters: {users}"


def test_no_wildcards_and_no_managed_full_access() -> None:
    text = POLICY.read_text()
    assert "FullAccess" not in text
    for action in allowed_actions(json.loads(text)):
        assert "*" not in action, action
