"""Least privilege: site.yml's AWS phases and teardown.yml run as the deployer of
playbooks/deployer_iam.yml, on an emulator that enforces IAM policies (emulator.py
--enforce-iam), and fail with AccessDenied as soon as one action is missing from
iam/deployer-policy.json.

These tests start their own emulator (free port, no host containers): the phases that run on
the instance need no AWS permission and are covered by molecule/default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import ansible_collections.amazon.aws as amazon_aws
import ansible_collections.community.aws as community_aws
import pytest
from botocore import xform_name
from harness import REPO_ROOT, Emulator, Runner
from iam_testing import (
    ALWAYS_ALLOWED,
    DEPLOYER,
    DEPLOYER_PLAYBOOK,
    DEPLOYER_ROLE,
    clear_decisions,
    create_deployer,
    credentials_file,
    decisions,
    denied_actions,
    deployer_policies,
    deployer_principal,
    deployer_runner,
    load_policy,
    policy_actions,
    without_action,
)
from stack_testing import (
    NOTHING,
    PROJECT,
    PROVISIONING,
    count_project_resources,
    playbook_env_for,
    role_only_playbook,
)

# Global services: aws:RequestedRegion is us-east-1 for them whatever the project's region.
GLOBAL_PREFIXES = ("budgets:", "iam:", "sts:", "tag:")
# Regional services: their changes are bound to the deployer's region.
REGIONAL_PREFIXES = ("ec2:", "cloudwatch:", "sns:")
# Actions only a rerun after drift calls (a stopped instance, a tag removed from
# project_extra_tags, changed egress rules or routes, IMDS options changed by hand): the plain
# run below does not make them. Each one is scoped to the project's tags like the others.
AFTER_DRIFT_ONLY = {
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:DeleteRoute",
    "ec2:DeleteTags",
    "ec2:ModifyInstanceMetadataOptions",
    "ec2:ReplaceRoute",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:StartInstances",
}
# Actions only stop.yml calls (start.yml starts the instance with StartInstances, as a rerun
# after drift does).
PAUSE_ONLY = {"ec2:StopInstances"}
# Called only through amazon.aws's module_utils, which the code check does not read
# (ensure_ec2_tags with purge_tags).
THROUGH_MODULE_UTILS = {"ec2:DeleteTags"}
# Checked by AWS on the caller's behalf, never called: CloudWatch asks for it when an alarm has
# an EC2 action (the emulator models that check: embedded/iam_enforcement.py).
ON_THE_CALLERS_BEHALF = {"iam:CreateServiceLinkedRole"}
# IAM actions whose name is not an API operation: the operations that need them.
OPERATIONS_OF = {
    "budgets:ModifyBudget": ("create_budget", "update_budget", "delete_budget"),
    "budgets:ViewBudget": ("describe_budget",),
}


# ---------------------------------------------------------------- the policy document (fast)


def test_policy_is_a_valid_iam_document() -> None:
    policy = deployer_policies()
    assert policy["Version"] == "2012-10-17"  # policy variables need this version
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)), sids
    for statement in policy["Statement"]:
        actions = (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        assert statement["Effect"] in ("Allow", "Deny"), statement["Sid"]
        assert "*" not in "".join(actions), f"{statement['Sid']}: wildcard action"
        assert actions == sorted(set(actions)), f"{statement['Sid']}: sort, no duplicates"
        assert statement["Resource"], statement["Sid"]
        # Nothing in the file is specific to one project or region: the user's tags scope it.
        assert "taskstack" not in json.dumps(statement) and "eu-west" not in json.dumps(statement)
        conditions = statement.get("Condition", {}).get("StringEquals", {})
        if statement["Effect"] == "Deny":
            continue  # a Deny only narrows what the Allows grant
        if any(a.split(":")[1].startswith(("Describe", "List", "Get")) for a in actions):
            assert "Condition" not in statement, f"{statement['Sid']}: reads take no condition"
        elif all(a.startswith(REGIONAL_PREFIXES) for a in actions):
            assert conditions.get("aws:RequestedRegion") == "${aws:PrincipalTag/DeployRegion}"
        else:
            assert all(a.startswith(GLOBAL_PREFIXES) for a in actions), statement["Sid"]
            assert "aws:RequestedRegion" not in conditions, statement["Sid"]


@pytest.mark.parametrize(
    "name", ["deployer-policy.json", "deployer-policy-alarms.json", "deployer-policy-kms.json"]
)
def test_each_policy_document_fits_iams_quota_for_a_managed_policy(name: str) -> None:
    """6,144 characters, white space not counted (IAM and AWS STS quotas): moto accepts more,
    AWS answers CreatePolicy with LimitExceeded."""
    text = (REPO_ROOT / "iam" / name).read_text()
    assert len(re.sub(r"\s", "", text)) <= 6144


def deployer_code() -> str:
    """The source of the AWS calls site.yml and teardown.yml can make as the deployer: the
    amazon.aws and community.aws modules the roles use (with community.aws's SNS helpers), the
    inventory plugin, the project's own modules."""
    collection = Path(next(iter(amazon_aws.__path__))) / "plugins"
    community = Path(next(iter(community_aws.__path__))) / "plugins"
    files = []
    for plugins, name in ((collection, "amazon"), (community, "community")):
        used = set()
        for tasks in (REPO_ROOT / "roles").glob("*/tasks/*.yml"):
            if tasks.parts[-3] != DEPLOYER_ROLE:
                used |= set(re.findall(rf"{name}\.aws\.(\w+):", tasks.read_text()))
        assert used, f"no {name}.aws module found in roles/*/tasks"
        files += [plugins / "modules" / f"{module}.py" for module in used]
    files.append(community / "module_utils" / "sns.py")
    # Not amazon.aws's module_utils: they wrap nearly every EC2 call, used or not.
    files.append(collection / "inventory" / "aws_ec2.py")
    files += [*(REPO_ROOT / "plugins").glob("**/*.py")]
    return "\n".join(path.read_text() for path in files)


def test_every_action_of_the_policy_is_called_by_the_code_that_runs() -> None:
    """A cheap guard against actions nobody calls (the slow test below checks the run)."""
    code = deployer_code()
    unused = []
    for action in sorted(
        policy_actions(deployer_policies()) - THROUGH_MODULE_UTILS - ON_THE_CALLERS_BEHALF
    ):
        operation = action.split(":")[1]
        names = OPERATIONS_OF.get(action, (xform_name(operation), operation))
        if not any(re.search(rf"\b{name}\b", code) for name in names):
            unused.append(action)
    assert not unused, f"in the policy but called by no module the playbooks use: {unused}"
    utils = Path(next(iter(amazon_aws.__path__))) / "plugins" / "module_utils"
    utils_code = "\n".join(path.read_text() for path in utils.glob("*.py"))
    for action in THROUGH_MODULE_UTILS:
        assert re.search(rf"\b{xform_name(action.split(':')[1])}\b", utils_code), action


# ---------------------------------------------------------------- runs on the emulator (slow)


# iam_emulator (conftest.py): this module's own emulator, enforcing IAM policies.


@pytest.fixture
def admin(iam_emulator: Emulator, state_dir: Path) -> Runner:
    """An empty emulator and the emulator's administrator (its usual fake credentials)."""
    iam_emulator.reset()
    return Runner(playbook_env_for(iam_emulator), state_dir)


# A policy of someone else's, for the tests of names the project did not make.
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def users(emulator: Emulator) -> list[str]:
    return [u["UserName"] for u in emulator.client("iam").list_users()["Users"]]


def drift(ec2, project: str = "taskstack") -> None:
    """Changes made by hand, as the administrator, that a rerun must undo: the instance
    stopped, an egress rule added, a tag added to the subnet (the VPC keeps tags it did not
    set: it may be one adopted with its owner's tags)."""
    mine = [{"Name": "tag:Project", "Values": [project]}]
    reservations = ec2.describe_instances(
        Filters=[*mine, {"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    ec2.stop_instances(InstanceIds=[reservations[0]["Instances"][0]["InstanceId"]])
    group = ec2.describe_security_groups(Filters=mine)["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_egress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 25,
                "ToPort": 25,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    subnet = ec2.describe_subnets(Filters=mine)["Subnets"][0]["SubnetId"]
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": "Drift", "Value": "by-hand"}])


def allowed_actions_of_the_deployer(emulator: Emulator) -> set[str]:
    """The actions the deployer was allowed since the log was cleared; none was refused."""
    seen = [d for d in decisions(emulator) if d["principal"] == deployer_principal()]
    assert all(d["allowed"] for d in seen), [d for d in seen if not d["allowed"]]
    clear_decisions(emulator)
    return {d["action"] for d in seen}


@pytest.mark.slow
def test_the_deployer_runs_the_stacks_whole_life_with_nothing_more(
    iam_emulator: Emulator, admin: Runner, state_dir: Path
) -> None:
    """One stack, as the deployer: built, the operator's address moved, changed by hand and
    converged back, paused, torn down. The plain runs (build, move, teardown) use every action
    of the policy but those only a rerun after drift needs (AFTER_DRIFT_ONLY: the policy grants
    them on the project's resources) and stop.yml's (PAUSE_ONLY). A new alarm address
    unsubscribes the old one."""
    first = create_deployer(admin)
    again = create_deployer(admin)
    assert again.changed == 0, again.output[-3000:]
    key_file = credentials_file(state_dir)
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = re.search(r"aws_secret_access_key = (\S+)", key_file.read_text())[1]
    assert secret not in first.output + again.output
    assert f"AWS_PROFILE={DEPLOYER}" in first.output

    deployer = deployer_runner(admin)
    refused = deployer.playbook(DEPLOYER_PLAYBOOK)
    assert refused.returncode != 0
    assert "run this playbook with administrator credentials" in refused.output

    clear_decisions(iam_emulator)
    built = deployer.playbook(*PROVISIONING)
    assert built.returncode == 0, built.output[-3000:]
    assert f"as {deployer_principal()}" in built.output
    # The operator's address changed: the SSH rule is replaced (RevokeSecurityGroupIngress).
    moved = deployer.playbook(
        "playbooks/provision.yml", "-e", '{"aws_preflight_operator_cidrs": ["198.51.100.7/32"]}'
    )
    assert moved.returncode == 0, moved.output[-3000:]
    # audit.yml alone checks that the budget exists, listing the account's budgets
    # (DescribeBudgets, authorized on budget/*); in site.yml preflight's ensure stands for it.
    audited = deployer.playbook("playbooks/audit.yml")
    assert audited.returncode == 0, audited.output[-3000:]
    assert "aws_budget : Ensure the monthly cost budget" in audited.output
    plain = allowed_actions_of_the_deployer(iam_emulator)

    drift(iam_emulator.client("ec2"))
    clear_decisions(iam_emulator)
    # And the alarms now go to another address: the first one's subscription goes.
    new_address = '{"aws_budget_emails": ["new-ops@example.com"]}'
    rerun = deployer.playbook("playbooks/provision.yml", "-e", new_address)
    assert rerun.returncode == 0, rerun.output[-3000:]
    used = allowed_actions_of_the_deployer(iam_emulator)
    expected = {"ec2:StartInstances", "ec2:RevokeSecurityGroupEgress", "ec2:DeleteTags"}
    assert expected <= used & AFTER_DRIFT_ONLY, sorted(used & AFTER_DRIFT_ONLY)
    assert "sns:Unsubscribe" in used, sorted(used)  # the old address's subscription

    paused = deployer.playbook("stop.yml")
    assert paused.returncode == 0, paused.output[-3000:]
    assert allowed_actions_of_the_deployer(iam_emulator) & PAUSE_ONLY == PAUSE_ONLY

    # Stopped, its database cannot be backed up first: the teardown is told to let it go.
    removed = deployer.playbook("teardown.yml", "-e", "app_backup_before_teardown=false")
    assert removed.returncode == 0, removed.output[-3000:]
    assert count_project_resources(iam_emulator.client("ec2")) == NOTHING
    plain |= allowed_actions_of_the_deployer(iam_emulator)
    plain -= ALWAYS_ALLOWED
    policy = policy_actions(deployer_policies())
    not_in_a_plain_run = AFTER_DRIFT_ONLY | PAUSE_ONLY
    assert plain == policy - not_in_a_plain_run, (
        f"unused: {sorted(policy - not_in_a_plain_run - plain)}; missing: {sorted(plain - policy)}"
    )

    gone = admin.playbook(DEPLOYER_PLAYBOOK, "-e", "aws_deployer_iam_state=absent")
    assert gone.returncode == 0, gone.output[-3000:]
    assert DEPLOYER not in users(iam_emulator)
    assert not iam_emulator.client("iam").list_policies(Scope="Local")["Policies"]
    assert not key_file.exists()
    twice = admin.playbook(DEPLOYER_PLAYBOOK, "-e", "aws_deployer_iam_state=absent")
    assert twice.returncode == 0 and twice.changed == 0, twice.output[-3000:]


def the_projects_vpc(emulator: Emulator) -> None:
    """What teardown.yml deletes last, made by the administrator: the project's VPC, tagged as
    site.yml tags it. The deployer's whole life above tears a whole stack down; a stack built
    here first cost a provisioning run as the deployer (173 s of a worker, pytest --durations)."""
    tags = {
        "Name": f"{PROJECT}-vpc",
        "Project": PROJECT,
        "Environment": "dev",
        "ManagedBy": "ansible",
    }
    emulator.client("ec2").create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )


# Each case: what is taken away, the phases that run (up to the one that must fail), and the
# action named in the AccessDenied answer.
TEARDOWN = "teardown.yml"
NEGATIVE_CASES = {
    "budget": ("budgets:ModifyBudget", {}, PROVISIONING, "budgets:ModifyBudget"),
    "vpc": ("ec2:CreateVpc", {}, PROVISIONING, "ec2:CreateVpc"),
    # The route table's call runs in the background (aws_network_routes_in_background): its
    # refusal stops the run at the wait, before the launch.
    "routes": ("ec2:CreateRoute", {}, PROVISIONING, "ec2:CreateRoute"),
    "instance": ("ec2:RunInstances", {}, PROVISIONING, "ec2:RunInstances"),
    "teardown-vpc": ("ec2:DeleteVpc", {}, (TEARDOWN,), "ec2:DeleteVpc"),
    # Nothing taken away: the stack is asked for outside the deployer's region or project.
    "other-region": (None, {"AWS_REGION": "eu-west-1"}, PROVISIONING, "ec2:CreateVpc"),
    # Preflight's look for an alarm topic of the project's name comes first, and that name is
    # outside sns:...:<project>-*.
    "other-project": (None, {"PROJECT_NAME": "other"}, PROVISIONING, "sns:GetTopicAttributes"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("removed", "env", "phases", "denied"), NEGATIVE_CASES.values(), ids=NEGATIVE_CASES.keys()
)
def test_the_run_stops_at_the_first_action_the_deployer_lacks(
    iam_emulator: Emulator,
    admin: Runner,
    tmp_path: Path,
    removed: str | None,
    env: dict[str, str],
    phases: tuple[str, ...],
    denied: str,
) -> None:
    policy = load_policy()
    if removed:
        policy = without_action(policy, removed)
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy))
    create_deployer(admin, "-e", f"aws_deployer_iam_policy_file={policy_file}")
    deployer = deployer_runner(admin)
    deployer.env.update(env)
    clear_decisions(iam_emulator)

    if phases == (TEARDOWN,):
        the_projects_vpc(iam_emulator)
    run = deployer.playbook(*phases)

    assert run.returncode != 0, run.output[-3000:]
    assert denied_actions(run) == {denied}, run.error_lines()
    refused = {d["action"] for d in decisions(iam_emulator) if not d["allowed"]}
    assert refused == {denied}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy_text", "message"),
    [
        (None, "does not exist: point it at iam/deployer-policy.json"),
        ("{not json", "is not valid JSON"),
        ('{"Statement": []}', 'it must be a JSON object with "Version": "2012-10-17"'),
    ],
    ids=["missing", "not-json", "no-version"],
)
def test_a_bad_policy_file_is_refused_in_one_line(
    iam_emulator: Emulator, admin: Runner, tmp_path: Path, policy_text: str | None, message: str
) -> None:
    policy_file = tmp_path / "policy.json"
    if policy_text is not None:
        policy_file.write_text(policy_text)
    run = admin.playbook(DEPLOYER_PLAYBOOK, "-e", f"aws_deployer_iam_policy_file={policy_file}")
    assert run.returncode != 0
    # The yaml callback folds long messages over several lines.
    assert message in " ".join(run.output.split()), run.output[-2000:]
    assert DEPLOYER not in users(iam_emulator)


@pytest.mark.parametrize("state", ["present", "absent"])
def test_a_user_of_the_deployers_name_that_the_project_did_not_make_is_left_alone(
    iam_emulator: Emulator, admin: Runner, state: str
) -> None:
    """Someone's own IAM user of that name (PROJECT_NAME=ci and their "ci-deployer"): the
    playbook would detach its policies, purge its tags and delete its access keys (or the user,
    with aws_deployer_iam_state=absent). It stops with one line and changes nothing."""
    iam = iam_emulator.client("iam")
    iam.create_user(UserName=DEPLOYER, Tags=[{"Key": "Team", "Value": "ci"}])
    theirs = iam.create_policy(PolicyName="ci-builds", PolicyDocument=json.dumps(READ_ONLY))
    iam.attach_user_policy(UserName=DEPLOYER, PolicyArn=theirs["Policy"]["Arn"])
    key = iam.create_access_key(UserName=DEPLOYER)["AccessKey"]["AccessKeyId"]

    run = admin.playbook(DEPLOYER_PLAYBOOK, "-e", f"aws_deployer_iam_state={state}")
    assert run.returncode != 0
    assert (
        f"the IAM user {DEPLOYER} already exists without the tags Project=taskstack, "
        "ManagedBy=ansible: not this project's deployer, and nothing was changed"
    ) in " ".join(run.output.split()), run.output[-2000:]
    assert DEPLOYER in users(iam_emulator)
    assert iam.list_user_tags(UserName=DEPLOYER)["Tags"] == [{"Key": "Team", "Value": "ci"}]
    attached = iam.list_attached_user_policies(UserName=DEPLOYER)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["ci-builds"]
    keys = iam.list_access_keys(UserName=DEPLOYER)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key]
    names = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert names == ["ci-builds"]


def test_a_managed_policy_of_the_deployers_name_that_the_project_did_not_make_is_kept(
    iam_emulator: Emulator, admin: Runner
) -> None:
    iam = iam_emulator.client("iam")
    iam.create_policy(PolicyName=DEPLOYER, PolicyDocument=json.dumps(READ_ONLY))
    run = admin.playbook(DEPLOYER_PLAYBOOK)
    assert run.returncode != 0
    assert (
        f"the managed policy {DEPLOYER} already exists without the tags Project=taskstack"
    ) in " ".join(run.output.split()), run.output[-2000:]
    assert DEPLOYER not in users(iam_emulator)
    [policy] = iam.list_policies(Scope="Local")["Policies"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    assert version["PolicyVersion"]["Document"] == READ_ONLY


def test_the_deployer_replaces_the_projects_key_pair_when_told_to(
    iam_emulator: Emulator, admin: Runner, state_dir: Path, tmp_path: Path
) -> None:
    """The local key lost (a new machine) and made again: AWS holds the project's key pair with
    the old public key, and aws_key_pair_adopt=true replaces it. As the deployer too: ec2_key's
    own replacement imports the key under a temporary name without the Project tag first, which
    the policy refuses (the role deletes the old key pair and imports the new one instead)."""
    create_deployer(admin)
    deployer = deployer_runner(admin)
    playbook = tmp_path / "key_pair.yml"
    playbook.write_text(role_only_playbook("aws_key_pair"))
    first = deployer.playbook(str(playbook))
    assert first.returncode == 0, first.output[-3000:]
    ec2 = iam_emulator.client("ec2")
    (old,) = ec2.describe_key_pairs(KeyNames=["taskstack-key"])["KeyPairs"]

    for lost in (state_dir / "keys").glob("taskstack-key*"):
        lost.unlink()
    refused = deployer.playbook(str(playbook))
    assert refused.returncode != 0
    assert "set aws_key_pair_adopt=true to replace it with yours" in refused.output

    replaced = deployer.playbook(str(playbook), "-e", "aws_key_pair_adopt=true")
    assert replaced.returncode == 0, replaced.output[-3000:]
    (new,) = ec2.describe_key_pairs(KeyNames=["taskstack-key"])["KeyPairs"]
    assert new["KeyFingerprint"] != old["KeyFingerprint"]
    assert {"Key": "Project", "Value": "taskstack"} in new["Tags"]
    again = deployer.playbook(str(playbook), "-e", "aws_key_pair_adopt=true")
    assert again.returncode == 0 and again.changed == 0, again.recap()
