"""The hub (template.yaml) and the service template (service/template.yaml), resolved offline into
the CloudFormation AWS would deploy: the events reach the right functions, the URLs exist, a
service's pipeline runs its stages in promotion order with the same image through the hub's traffic
shifter, and the registry entry it writes is what the functions expect. `sam build` runs for real,
with a stand-in for cargo, to show it asks cargo-lambda for the right binary of each function
(the real compile is `make build`). Plain unittest:

    .venv/bin/python tests/template/test_template.py      # exit status != 0 on failure

(The environment lists and the IAM rules are checked in Rust, against the core's own list of
variables: tests/tests/template.rs.)
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resolve  # noqa: E402

PIPELINE_EVENTS = {
    "CodePipeline Pipeline Execution State Change",
    "CodePipeline Stage Execution State Change",
    "CodePipeline Action Execution State Change",
}
# The variables the webhook passes to StartPipelineExecution (shared/core/src/ingest/start.rs;
# PUSHER, the account the provider authenticated, is declared for the four-eyes rule).
WEBHOOK_VARIABLES = {"COMMIT_ID", "BRANCH", "TAG", "REPOSITORY", "AUTHOR", "COMMIT_MESSAGE", "PUSHER",
                     "COMMIT_AUTHORS"}
# CodePipeline's limit on one action configuration value.
MAX_CONFIGURATION_VALUE = 1000

DEFAULT = resolve.Resolved()
SERVICE = resolve.Resolved(path=resolve.SERVICE_TEMPLATE)

# Stands in for cargo under `sam build`: answers `cargo metadata`, records each `cargo lambda build`
# and leaves a "binary" that names the --bin it was built for. cargo-lambda itself is only looked for.
FAKE_CARGO = r"""#!/bin/sh
echo "$PWD|$*" >> "$FAKE_CARGO_LOG"
case "$1" in
  metadata) printf '{"target_directory": "%s", "packages": []}\n' "$CARGO_TARGET_DIR" ;;
  lambda)
    bin=$(echo "$*" | sed -n 's/.*--bin \([^ ]*\).*/\1/p')
    mkdir -p "$CARGO_TARGET_DIR/lambda/$bin"
    echo "$bin" > "$CARGO_TARGET_DIR/lambda/$bin/bootstrap" ;;
esac
"""


def created(resolved: resolve.Resolved, resource: dict[str, Any]) -> bool:
    """False for a resource whose `Condition` the parameters turn off."""
    condition = resource.get("Condition")
    return condition is None or resolved.resolve({"Fn::If": [condition, True, False]})


def rule_targeting(resolved: resolve.Resolved, function: str, schedule: bool = False,
                   source: str = "aws.codepipeline", expression: str | None = None) -> dict[str, Any]:
    """The one rule that sends `function` events from `source` (or, with `schedule`, the one
    schedule, or the one with `expression`)."""
    def matches(p: dict[str, Any]) -> bool:
        if schedule:
            return "ScheduleExpression" in p and expression in (None, p["ScheduleExpression"])
        return "ScheduleExpression" not in p and p.get("EventPattern", {}).get("source") == [source]
    rules = [
        r["Properties"]
        for r in resolved.of_type("AWS::Events::Rule").values()
        if created(resolved, r)
        and matches(r["Properties"])
        and any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 1, f"{function}: expected one EventBridge rule, found {len(rules)}"
    return rules[0]


def stages(resolved: resolve.Resolved) -> list[dict[str, Any]]:
    return resolved.resources["Pipeline"]["Properties"]["Stages"]


def deploy_actions(resolved: resolve.Resolved) -> dict[str, dict[str, Any]]:
    return {
        s["Name"]: a
        for s in stages(resolved)
        for a in s["Actions"]
        if a["ActionTypeId"]["Category"] == "Invoke"
    }


def service(overrides: dict[str, Any]) -> resolve.Resolved:
    return resolve.Resolved(overrides, path=resolve.SERVICE_TEMPLATE)


def registry_entry(resolved: resolve.Resolved) -> dict[str, Any]:
    """The service's registry document, as its stack writes it to /gantry/services/<pipeline>."""
    return json.loads(resolved.resolve(resolved.resources["RegistryEntry"]["Properties"]["Value"]))


def user_parameters(resolved: resolve.Resolved, stage: str) -> dict[str, Any]:
    text = resolved.resolve(deploy_actions(resolved)[stage]["Configuration"]["UserParameters"])
    return json.loads(text)


class Events(unittest.TestCase):
    def test_notifier_hears_every_execution_stage_and_action_event_of_every_pipeline(self) -> None:
        # A service added later changes nothing in the hub: the rule names no pipeline.
        rule = rule_targeting(DEFAULT, "NotifierFunction")
        pattern = rule["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.codepipeline"])
        self.assertEqual(set(pattern["detail-type"]), PIPELINE_EVENTS)
        self.assertNotIn("detail", pattern)

    def test_approval_hears_every_pipelines_approval_actions(self) -> None:
        pattern = rule_targeting(DEFAULT, "ApprovalRequestsFunction")["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.codepipeline"])
        self.assertEqual(pattern["detail-type"], ["CodePipeline Action Execution State Change"])
        self.assertNotIn("pipeline", pattern["detail"])
        self.assertEqual(pattern["detail"]["type"], {"category": ["Approval"]})

    def test_eventbridge_may_invoke_both_and_undeliverable_events_are_kept(self) -> None:
        permissions = DEFAULT.of_type("AWS::Lambda::Permission").values()
        for function in ["NotifierFunction", "ApprovalRequestsFunction"]:
            self.assertTrue(
                any(
                    p["Properties"]["Principal"] == "events.amazonaws.com"
                    and p["Properties"]["FunctionName"] == {"Ref": function}
                    for p in permissions
                ),
                f"EventBridge has no permission to invoke {function}",
            )
            target = rule_targeting(DEFAULT, function)["Targets"][0]
            self.assertEqual(target["DeadLetterConfig"]["Arn"], {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})

    def test_the_weekly_post_is_off_unless_asked_for_then_a_monday_schedule_of_the_notifier(self) -> None:
        for resource in ("WeeklyReportSchedule", "WeeklyReportPermission"):
            self.assertFalse(created(DEFAULT, DEFAULT.resources[resource]), resource)
        on = resolve.Resolved({"WeeklyReport": "true"}, transformed=DEFAULT.template)
        rule = rule_targeting(on, "NotifierFunction", schedule=True, expression="cron(0 9 ? * MON *)")
        # EventBridge's own Scheduled Event: the notifier tells it from CodePipeline's by shape,
        # and from the registry's reconcile (also a schedule) by the rule's name.
        self.assertEqual(on.resolve(rule["Name"]), "gantry-weekly-report")
        self.assertFalse({"Input", "InputPath", "InputTransformer"} & set(rule["Targets"][0]))
        permission = on.resources["WeeklyReportPermission"]
        self.assertTrue(created(on, permission))
        self.assertEqual(permission["Properties"]["Principal"], "events.amazonaws.com")
        self.assertEqual(permission["Properties"]["FunctionName"], {"Ref": "NotifierFunction"})
        self.assertEqual(permission["Properties"]["SourceArn"], {"Fn::GetAtt": ["WeeklyReportSchedule", "Arn"]})
        # The pipeline events' rule is still the one it was.
        self.assertEqual(rule_targeting(on, "NotifierFunction")["EventPattern"]["source"], ["aws.codepipeline"])

    def test_the_notifier_keeps_the_registry_from_parameter_store_changes_and_a_reconcile_each_minute(self) -> None:
        rule = rule_targeting(DEFAULT, "NotifierFunction", source="aws.ssm")
        self.assertEqual(rule["EventPattern"]["detail-type"], ["Parameter Store Change"])
        self.assertIn("/gantry/services/", json.dumps(rule["EventPattern"]["detail"]))
        reconcile = rule_targeting(DEFAULT, "NotifierFunction", schedule=True, expression="rate(1 minute)")
        self.assertFalse(reconcile.get("Name", "").endswith("-weekly-report"))

    def test_the_traffic_shifter_sweeps_for_orphaned_deployments_every_minute(self) -> None:
        rule = rule_targeting(DEFAULT, "TrafficShifterFunction", schedule=True)
        self.assertEqual(rule["ScheduleExpression"], "rate(1 minute)")
        # EventBridge's own Scheduled Event ("source": "aws.events"), not an input of ours.
        target = rule["Targets"][0]
        self.assertFalse({"Input", "InputPath", "InputTransformer"} & set(target), target)
        self.assertTrue(
            any(
                p["Properties"]["Principal"] == "events.amazonaws.com"
                and p["Properties"]["FunctionName"] == {"Ref": "TrafficShifterFunction"}
                for p in DEFAULT.of_type("AWS::Lambda::Permission").values()
            ),
            "EventBridge has no permission to invoke the traffic shifter",
        )

    def test_failed_async_invocations_go_to_the_dead_letter_queue(self) -> None:
        configs = {
            c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
            for c in DEFAULT.of_type("AWS::Lambda::EventInvokeConfig").values()
        }
        self.assertIn("NotifierFunction", configs)
        for config in configs.values():
            self.assertEqual(
                config["DestinationConfig"]["OnFailure"]["Destination"],
                {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
            )


class Concurrency(unittest.TestCase):
    def functions(self) -> dict[str, Any]:
        return {name: f["Properties"] for name, f in DEFAULT.of_type("AWS::Lambda::Function").items()}

    def test_a_dropped_traffic_shifter_invocation_lands_in_the_alarmed_queue(self) -> None:
        configs = {
            c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
            for c in DEFAULT.of_type("AWS::Lambda::EventInvokeConfig").values()
        }
        shifter = configs["TrafficShifterFunction"]
        self.assertEqual(
            shifter["DestinationConfig"]["OnFailure"]["Destination"],
            {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        )
        # Older than CodePipeline's 20-minute reply window, the job has timed out anyway.
        self.assertLessEqual(shifter["MaximumEventAgeInSeconds"], 1200)
        alarms = [
            a["Properties"]
            for a in DEFAULT.of_type("AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("Namespace") == "AWS/SQS"
        ]
        self.assertTrue(
            any(
                {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
                in a.get("Dimensions", [])
                and a.get("AlarmActions") == [{"Ref": "Topic"}]
                for a in alarms
            ),
            f"no alarm on the dead-letter queue: {alarms}",
        )

    def test_the_shifter_has_reserved_concurrency_and_the_public_functions_are_capped(self) -> None:
        functions = self.functions()
        self.assertGreaterEqual(functions["TrafficShifterFunction"].get("ReservedConcurrentExecutions", 0), 3)
        for public in ["WebhookFunction", "ApprovalFunction"]:
            cap = functions[public].get("ReservedConcurrentExecutions")
            self.assertIsNotNone(cap, f"{public} has no concurrency cap")
            self.assertLessEqual(cap, 50)

    def test_approval_requests_have_a_concurrency_of_their_own_apart_from_the_public_url(self) -> None:
        # A flood at the public Slack URL fills ApprovalFunction's reserved concurrency; the
        # approval requests from EventBridge run in another function, with its own.
        functions = self.functions()
        requests = functions["ApprovalRequestsFunction"]
        self.assertGreaterEqual(requests.get("ReservedConcurrentExecutions", 0), 1)
        rule_targeting(DEFAULT, "ApprovalRequestsFunction")
        to_the_url = [
            r for r in DEFAULT.of_type("AWS::Events::Rule").values()
            if any(t["Arn"] == {"Fn::GetAtt": ["ApprovalFunction", "Arn"]} for t in r["Properties"]["Targets"])
        ]
        self.assertEqual(to_the_url, [], "the public URL's function hears no EventBridge rule")


class FunctionUrls(unittest.TestCase):
    def test_webhook_and_approval_have_public_urls_and_nothing_else_does(self) -> None:
        urls = {
            u["Properties"]["TargetFunctionArn"]["Ref"]: u["Properties"]
            for u in DEFAULT.of_type("AWS::Lambda::Url").values()
        }
        self.assertEqual(set(urls), {"WebhookFunction", "ApprovalFunction"})
        for url in urls.values():
            # Public on purpose: both verify the provider's signature before doing anything.
            self.assertEqual(url["AuthType"], "NONE")

    def test_the_urls_are_outputs_with_the_topic_and_a_service_names_its_pipeline(self) -> None:
        outputs = DEFAULT.template["Outputs"]
        self.assertEqual(outputs["WebhookUrl"]["Value"], {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]})
        self.assertEqual(
            outputs["SlackInteractivityUrl"]["Value"], {"Fn::GetAtt": ["ApprovalFunctionUrl", "FunctionUrl"]}
        )
        self.assertEqual(outputs["TopicArn"]["Value"], {"Ref": "Topic"})
        self.assertNotIn("PipelineName", outputs)  # the hub has no pipeline of its own
        outputs = SERVICE.template["Outputs"]
        self.assertEqual(outputs["PipelineName"]["Value"], {"Ref": "Pipeline"})
        console = SERVICE.resolve(outputs["PipelineConsoleUrl"]["Value"])
        self.assertTrue(console.startswith("https://us-east-1.console.aws.amazon.com/"), console)
        self.assertIn("/pipelines/shop/", console)


class Pipeline(unittest.TestCase):
    def test_stages_run_source_build_then_each_environment_in_order(self) -> None:
        self.assertEqual([s["Name"] for s in stages(SERVICE)], ["Source", "Build", "Dev", "QA", "Prod"])
        self.assertEqual(SERVICE.resources["Pipeline"]["Properties"]["PipelineType"], "V2")

    def test_prod_waits_for_an_approval_before_it_deploys(self) -> None:
        prod = {a["Name"]: a for a in stages(SERVICE)[-1]["Actions"]}
        approve, deploy = prod["Approve"], prod["Deploy"]
        self.assertEqual(approve["ActionTypeId"]["Category"], "Approval")
        self.assertEqual(approve["ActionTypeId"]["Provider"], "Manual")
        self.assertLess(approve["RunOrder"], deploy["RunOrder"])
        for stage in stages(SERVICE)[:-1]:
            self.assertFalse(
                any(a["ActionTypeId"]["Category"] == "Approval" for a in stage["Actions"]),
                f"{stage['Name']} should not wait for an approval",
            )

    def test_source_is_pinned_by_the_webhook_not_detected(self) -> None:
        source = stages(SERVICE)[0]["Actions"][0]
        self.assertEqual(source["ActionTypeId"]["Provider"], "CodeStarSourceConnection")
        self.assertEqual(source["Name"], "Source")  # the route's source_action
        self.assertEqual(source["Configuration"]["DetectChanges"], "false")
        self.assertNotIn("Triggers", SERVICE.resources["Pipeline"]["Properties"])

    def test_every_variable_the_webhook_passes_is_declared_with_a_default(self) -> None:
        declared = SERVICE.resources["Pipeline"]["Properties"]["Variables"]
        self.assertEqual({v["Name"] for v in declared}, WEBHOOK_VARIABLES)
        for v in declared:
            self.assertTrue(str(SERVICE.resolve(v["DefaultValue"])), f"{v['Name']} has an empty default")

    def test_the_build_exports_the_image_uri_under_the_namespace_the_deploys_read(self) -> None:
        build = stages(SERVICE)[1]["Actions"][0]
        self.assertEqual(build["Namespace"], "BuildVariables")
        env = json.loads(build["Configuration"]["EnvironmentVariables"])
        self.assertEqual(env, [{"name": "COMMIT_ID", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"}])
        self.assertEqual(stages(SERVICE)[0]["Actions"][0]["Namespace"], "SourceVariables")
        buildspec = SERVICE.resources["BuildProject"]["Properties"]["Source"]["BuildSpec"]
        self.assertIn("exported-variables: [IMAGE_URI, IMAGE_TAG]", buildspec)
        self.assertIn('IMAGE_URI="$REPOSITORY_URI:$IMAGE_TAG"', buildspec)
        self.assertIn("DOCKER_BUILDKIT=1", buildspec)

    def test_every_environment_deploys_the_same_image_through_the_traffic_shifter(self) -> None:
        actions = deploy_actions(SERVICE)
        self.assertEqual(list(actions), ["Dev", "QA", "Prod"])
        for stage, action in actions.items():
            self.assertEqual(action["ActionTypeId"]["Provider"], "Lambda")
            # The hub's traffic shifter, by the name the hub gives it.
            self.assertEqual(SERVICE.resolve(action["Configuration"]["FunctionName"]), "gantry-traffic-shifter")
            self.assertEqual(user_parameters(SERVICE, stage)["image"], "#{BuildVariables.IMAGE_URI}")

    def test_user_parameters_follow_the_traffic_shifter_contract(self) -> None:
        params = user_parameters(SERVICE, "Prod")
        sample = resolve.SAMPLE
        self.assertEqual(
            params,
            {
                # The job is confirmed against the execution CodePipeline ran it for.
                "execution_id": "#{codepipeline.PipelineExecutionId}",
                "cluster": "shop-prod",
                "listener_arn": sample["ProdListenerArn"],
                "blue": {"service": "shop-prod-blue", "target_group_arn": sample["ProdBlueTargetGroupArn"]},
                "green": {"service": "shop-prod-green", "target_group_arn": sample["ProdGreenTargetGroupArn"]},
                "image": "#{BuildVariables.IMAGE_URI}",
                "container": "web",
                "strategy": {"type": "canary", "percent": 10, "bake_seconds": 300},
                "alarms": sample["ProdAlarmNames"],
                "check_interval_seconds": 15,
                "scale_down_after_seconds": 600,
                "lifecycle_hooks": [],
            },
        )
        self.assertEqual(user_parameters(SERVICE, "Dev")["strategy"], {"type": "all_at_once"})
        self.assertEqual(user_parameters(SERVICE, "QA")["strategy"]["type"], "linear")

    def test_a_test_listener_and_lifecycle_hooks_reach_their_environment_only(self) -> None:
        test_listener = resolve.SAMPLE["ProdListenerArn"].rsplit("/", 1)[0] + "/0123456789abcdef"
        hooks = [{"hook_target_arn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
                  "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"]}]
        resolved = service({"ProdTestListenerArn": test_listener, "ProdLifecycleHooks": json.dumps(hooks)})
        prod = user_parameters(resolved, "Prod")
        self.assertEqual(prod["test_listener_arn"], test_listener)
        self.assertEqual(prod["lifecycle_hooks"], hooks)
        qa = user_parameters(resolved, "QA")
        self.assertNotIn("test_listener_arn", qa)
        self.assertEqual(qa["lifecycle_hooks"], [])

    def test_a_stage_in_another_account_names_its_role_there_and_that_account_may_pull_the_image(self) -> None:
        resolved = service({"ProdAccountId": "222222222222", "TargetExternalId": "shop-ext-1"})
        prod = user_parameters(resolved, "Prod")
        self.assertEqual(prod["role_arn"], "arn:aws:iam::222222222222:role/gantry-target-shop")
        self.assertEqual(prod["external_id"], "shop-ext-1")
        for stage in ("Dev", "QA"):
            self.assertNotIn("role_arn", user_parameters(resolved, stage))
        policy = resolved._decide(resolved.resources["ImageRepository"]["Properties"])["RepositoryPolicyText"]
        (statement,) = policy["Statement"]
        self.assertEqual(statement["Principal"]["AWS"], ["arn:aws:iam::222222222222:root"])
        self.assertNotIn("ecr:PutImage", statement["Action"])

    def test_every_stage_in_the_pipelines_account_assumes_no_role_and_shares_no_image(self) -> None:
        for stage in ("Dev", "QA", "Prod"):
            params = user_parameters(SERVICE, stage)
            self.assertNotIn("role_arn", params)
            self.assertNotIn("external_id", params)
        self.assertNotIn("RepositoryPolicyText", SERVICE._decide(SERVICE.resources["ImageRepository"]["Properties"]))

    def test_no_alarm_names_is_an_empty_list(self) -> None:
        # An empty CommaDelimitedList reaches intrinsics as [""], as CloudFormation passes it.
        resolved = service({"QaAlarmNames": [""], "ProdAlarmNames": ["only-one"]})
        self.assertEqual(user_parameters(resolved, "QA")["alarms"], [])
        self.assertEqual(user_parameters(resolved, "Prod")["alarms"], ["only-one"])

    def test_user_parameters_fit_codepipelines_limit_with_the_longest_alb_names(self) -> None:
        for stage, action in deploy_actions(SERVICE).items():
            text = SERVICE.resolve(action["Configuration"]["UserParameters"])
            self.assertLessEqual(len(text), MAX_CONFIGURATION_VALUE, f"{stage}: {len(text)} characters")

    def test_the_pipeline_may_only_invoke_the_traffic_shifter(self) -> None:
        statements = SERVICE.resources["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        invokes = [s for s in statements if "lambda:InvokeFunction" in s.get("Action", [])]
        self.assertEqual(len(invokes), 1)
        shifter = "arn:aws:lambda:us-east-1:123456789012:function:gantry-traffic-shifter"
        self.assertEqual(SERVICE.resolve(invokes[0]["Resource"]), shifter)
        # ...which is the hub's own traffic shifter's name.
        hub = DEFAULT.resources["TrafficShifterFunction"]["Properties"]["FunctionName"]
        self.assertEqual(shifter.rsplit(":", 1)[1], DEFAULT.resolve(hub))


class Functions(unittest.TestCase):
    def test_each_function_logs_json_to_its_own_group_with_a_retention(self) -> None:
        groups = DEFAULT.of_type("AWS::Logs::LogGroup")
        seen = set()
        for name, function in DEFAULT.of_type("AWS::Lambda::Function").items():
            logging = function["Properties"]["LoggingConfig"]
            self.assertEqual(logging["LogFormat"], "JSON", name)
            group = logging["LogGroup"]["Ref"]
            self.assertNotIn(group, seen, f"{name} shares {group}")
            seen.add(group)
            self.assertEqual(groups[group]["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})

    def test_functions_that_answer_a_caller_give_up_inside_its_window(self) -> None:
        functions = DEFAULT.of_type("AWS::Lambda::Function")
        # GitHub waits 10 s for a webhook's answer; Slack 3 s for an interaction's (the function
        # answers well inside; the timeout only bounds a stuck call).
        self.assertLessEqual(functions["WebhookFunction"]["Properties"]["Timeout"], 10)
        self.assertLessEqual(functions["ApprovalFunction"]["Properties"]["Timeout"], 10)
        # CodePipeline waits 20 minutes for a Lambda action to answer.
        self.assertLess(functions["TrafficShifterFunction"]["Properties"]["Timeout"], 20 * 60)


class SamBuild(unittest.TestCase):
    def test_sam_build_asks_cargo_lambda_for_each_functions_binary_for_arm64(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tools = os.path.join(tmp, "bin")
            os.makedirs(tools)
            for name, text in [("cargo", FAKE_CARGO), ("cargo-lambda", "#!/bin/sh\nexit 0\n")]:
                path = os.path.join(tools, name)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                os.chmod(path, 0o755)
            log, build = os.path.join(tmp, "cargo.log"), os.path.join(tmp, "build")
            env = dict(
                os.environ,
                PATH=f"{tools}:{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}",
                FAKE_CARGO_LOG=log,
                CARGO_TARGET_DIR=os.path.join(tmp, "target"),
                SAM_CLI_TELEMETRY="0",
            )
            sam = os.path.join(os.path.dirname(sys.executable), "sam")
            done = subprocess.run(
                [sam, "build", "--template-file", resolve.TEMPLATE, "--build-dir", build, "--region", resolve.REGION],
                cwd=resolve.ROOT, env=env, capture_output=True, text=True, timeout=300,
            )
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            with open(log, encoding="utf-8") as f:
                builds = sorted(line.strip() for line in f if "|lambda " in line)
            self.assertEqual(
                builds,
                sorted(
                    f"{resolve.ROOT}|lambda build --release --arm64 --bin {b}"
                    # One build per binary: SAM builds ApprovalRequestsFunction's (the same
                    # binary, the same build) once, with ApprovalFunction's.
                    for b in ["webhook", "notifier", "approval", "traffic-shifter"]
                ),
            )
            for function, binary in [
                ("WebhookFunction", "webhook"),
                ("NotifierFunction", "notifier"),
                ("ApprovalFunction", "approval"),
                ("ApprovalRequestsFunction", "approval"),
                ("TrafficShifterFunction", "traffic-shifter"),
            ]:
                with open(os.path.join(build, function, "bootstrap"), encoding="utf-8") as f:
                    self.assertEqual(f.read().strip(), binary, f"{function} got the wrong binary")


class RegistryEntry(unittest.TestCase):
    """The service stack's registry document (INTERFACES.md, "The service registry")."""

    def test_the_entry_is_named_after_the_pipeline_and_is_a_plain_string(self) -> None:
        entry = SERVICE.resources["RegistryEntry"]["Properties"]
        self.assertEqual(SERVICE.resolve(entry["Name"]), "/gantry/services/shop")
        self.assertEqual(entry["Type"], "String")
        self.assertEqual(SERVICE.resolve(entry["Tags"]["gantry:hub"]), "gantry")

    def test_the_route_sends_this_repository_and_branch_to_this_pipeline(self) -> None:
        self.assertEqual(
            registry_entry(SERVICE)["routes"],
            [{"provider": "github", "repository": "octo-org/shop", "branches": ["main"], "tags": [],
              "paths": [], "ignore_paths": [], "source_action": "Source"}],
        )

    def test_notify_posts_to_the_chosen_channel_at_the_chosen_verbosity(self) -> None:
        self.assertEqual(registry_entry(service({"NotifyVerbosity": "failures"}))["notify"],
                         {"channel": "C0DEPLOYS", "verbosity": "failures"})
        # No channel: the hub's default channel.
        self.assertEqual(registry_entry(service({"SlackChannel": ""}))["notify"], {"verbosity": "stages"})

    def test_approvers_cover_every_stage_and_four_eyes_guards_prod(self) -> None:
        approvers = registry_entry(SERVICE)["approvers"]
        self.assertEqual(set(approvers), {"Dev", "QA", "Prod"})
        self.assertEqual(approvers["Prod"], {"users": ["U0ALICE", "U0BOB"], "groups": ["S0RELEASE"], "four_eyes": True})
        self.assertNotIn("four_eyes", approvers["Dev"])

    def test_no_approvers_means_nobody_approves_from_slack(self) -> None:
        entry = registry_entry(service({"ApproverUsers": "", "ApproverGroups": "", "FourEyes": "false"}))
        self.assertEqual(entry["approvers"]["Prod"], {"users": [], "groups": [], "four_eyes": False})


class HubConfiguration(unittest.TestCase):
    def test_the_hub_names_no_service(self) -> None:
        env = DEFAULT.function_environment()
        self.assertEqual(json.loads(env["webhook"]["GANTRY_ROUTES"]), [])
        self.assertNotIn("GANTRY_APPROVERS", env["approval"])
        self.assertNotIn("GANTRY_NOTIFY", env["notifier"])
        for name in resolve.sam_template()["Parameters"]:
            self.assertNotRegex(name, "^(ServiceName|Dev|Qa|Prod|Repository|Branch|ApproverUsers|ApproverGroups|SlackChannel)$|^(Dev|Qa|Prod)", name)

    def test_a_default_channel_reaches_every_function_that_posts(self) -> None:
        env = resolve.Resolved({"DefaultSlackChannel": "C0DEPLOYS"}).function_environment()
        self.assertEqual(json.loads(env["notifier"]["GANTRY_NOTIFY"]), {"default_channel": "C0DEPLOYS"})
        self.assertEqual(env["approval"]["GANTRY_NOTIFY"], env["notifier"]["GANTRY_NOTIFY"])
        self.assertEqual(env["traffic-shifter"]["GANTRY_NOTIFY"], env["notifier"]["GANTRY_NOTIFY"])

    def test_json_overrides_are_passed_verbatim(self) -> None:
        routes = '[{"provider":"gitlab","repository":"group/*","tags":["v*"],"pipeline":"shop","source_action":"Source"}]'
        notify = '{"default_channel":"C0OTHER"}'
        approvers = '{"shop":{"Prod":{"users":["U0CAROL"]}}}'
        env = resolve.Resolved(
            {"RoutesJson": routes, "NotifyJson": notify, "ApproversJson": approvers}
        ).function_environment()
        self.assertEqual(env["webhook"]["GANTRY_ROUTES"], routes)
        self.assertEqual(env["notifier"]["GANTRY_NOTIFY"], notify)
        self.assertEqual(env["approval"]["GANTRY_APPROVERS"], approvers)

    def test_no_secret_value_is_in_an_environment_variable_or_an_output(self) -> None:
        secret = DEFAULT.resources["GantrySecret"]["Properties"]
        self.assertNotIn("SecretString", secret)  # created empty; docs/deploy.md fills it
        self.assertNotIn("GenerateSecretString", secret)
        for function, env in DEFAULT.function_environment().items():
            for name, value in env.items():
                self.assertNotRegex(name, "(?i)token|password|signing", f"{function}: {name}")
        for name, spec in resolve.sam_template()["Parameters"].items():
            self.assertNotRegex(name, "(?i)secret|token|password", f"parameter {name}")
            self.assertNotIn("NoEcho", spec)


KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class Encryption(unittest.TestCase):
    """One optional KmsKeyArn encrypts everything the hub and a service store; empty means
    AWS-managed encryption everywhere, SNS and SQS included."""

    def decided(self, resolved: resolve.Resolved, kind: str) -> list[dict[str, Any]]:
        """Each `kind` resource's properties that say how it is stored (encryption, tags), with
        every `!If` decided."""
        keys = {"SSESpecification", "KmsKeyId", "KmsMasterKeyId", "SqsManagedSseEnabled", "KmsKeyArn",
                "BucketEncryption", "EncryptionConfiguration", "EncryptionKey", "ArtifactStore", "Tags"}
        return [resolved._decide({k: v for k, v in r["Properties"].items() if k in keys})
                for r in resolved.of_type(kind).values()]

    def test_the_key_encrypts_everything_the_hub_stores(self) -> None:
        hub = resolve.Resolved({"KmsKeyArn": KEY})
        self.assertEqual([p["SSESpecification"]["KMSMasterKeyId"] for p in self.decided(hub, "AWS::DynamoDB::Table")], [KEY])
        self.assertEqual([p["KmsKeyId"] for p in self.decided(hub, "AWS::SecretsManager::Secret")], [KEY])
        self.assertEqual({p["KmsMasterKeyId"] for p in self.decided(hub, "AWS::SNS::Topic")}, {KEY})
        queues = self.decided(hub, "AWS::SQS::Queue")
        self.assertEqual(len(queues), 3)
        self.assertEqual({q["KmsMasterKeyId"] for q in queues}, {KEY})
        groups = self.decided(hub, "AWS::Logs::LogGroup")
        self.assertEqual(len(groups), 5)
        self.assertEqual({g["KmsKeyId"] for g in groups}, {KEY})
        self.assertEqual({p["KmsKeyArn"] for p in self.decided(hub, "AWS::Lambda::Function")}, {KEY})

    def test_the_key_encrypts_everything_a_service_stores(self) -> None:
        svc = service({"KmsKeyArn": KEY})
        bucket = self.decided(svc, "AWS::S3::Bucket")[0]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        self.assertEqual(bucket["ServerSideEncryptionByDefault"], {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY})
        self.assertEqual(self.decided(svc, "AWS::ECR::Repository")[0]["EncryptionConfiguration"],
                         {"EncryptionType": "KMS", "KmsKey": KEY})
        self.assertEqual({p["KmsKeyId"] for p in self.decided(svc, "AWS::SecretsManager::Secret")}, {KEY})
        self.assertEqual(self.decided(svc, "AWS::Logs::LogGroup")[0]["KmsKeyId"], KEY)
        self.assertEqual(self.decided(svc, "AWS::CodeBuild::Project")[0]["EncryptionKey"], KEY)
        store = self.decided(svc, "AWS::CodePipeline::Pipeline")[0]["ArtifactStore"]
        self.assertEqual(store["EncryptionKey"], {"Id": KEY, "Type": "KMS"})

    def test_no_key_means_aws_managed_encryption_everywhere(self) -> None:
        self.assertEqual({p["KmsMasterKeyId"] for p in self.decided(DEFAULT, "AWS::SNS::Topic")}, {"alias/aws/sns"})
        for queue in self.decided(DEFAULT, "AWS::SQS::Queue"):
            self.assertIs(queue["SqsManagedSseEnabled"], True)
            self.assertNotIn("KmsMasterKeyId", queue)
        self.assertTrue(self.decided(DEFAULT, "AWS::DynamoDB::Table")[0]["SSESpecification"]["SSEEnabled"])
        self.assertEqual(self.decided(SERVICE, "AWS::ECR::Repository")[0]["EncryptionConfiguration"],
                         {"EncryptionType": "AES256"})

    def test_a_service_tags_what_the_hub_may_act_on(self) -> None:
        for kind in ("AWS::CodePipeline::Pipeline", "AWS::ECR::Repository", "AWS::S3::Bucket",
                     "AWS::CodeBuild::Project", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
            for properties in self.decided(SERVICE, kind):
                with self.subTest(kind=kind):
                    self.assertIn({"Key": "gantry:hub", "Value": "gantry"}, properties["Tags"])

    def test_app_secrets_are_placeholders_named_per_stage_and_kept(self) -> None:
        secrets = {k: r for k, r in SERVICE.of_type("AWS::SecretsManager::Secret").items()}
        names = sorted(SERVICE.resolve(r["Properties"]["Name"]) for r in secrets.values())
        self.assertEqual(names, ["/shop/dev/app", "/shop/prod/app", "/shop/qa/app"])
        for resource in secrets.values():
            # Created empty, so an update never writes a value over what the team put in.
            self.assertNotIn("SecretString", resource["Properties"])
            self.assertNotIn("GenerateSecretString", resource["Properties"])
            self.assertEqual((resource["DeletionPolicy"], resource["UpdateReplacePolicy"]), ("Retain", "Retain"))


class FromAOneServiceStack(unittest.TestCase):
    """The migration's new path (docs/deploy.md, "From a one-service stack"): the retained
    pipeline, image repository and artifact bucket are imported into a service stack, then the
    service template's deploy updates them in place, so the pipeline keeps its history."""

    def test_the_import_brings_in_the_three_kept_resources_under_their_names(self) -> None:
        sys.path.insert(0, os.path.join(resolve.ROOT, "scripts"))
        import service_import

        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, os.path.join(resolve.ROOT, "scripts", "service_import.py"),
                                   "shop", "gantry-imagerepository-1a2b", "gantry-artifactbucket-3c4d", out],
                                  capture_output=True, text=True, timeout=120)
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(os.path.join(out, "resources-to-import.json"), encoding="utf-8") as f:
                wanted = json.load(f)
            self.assertEqual({(r["LogicalResourceId"], json.dumps(r["ResourceIdentifier"])) for r in wanted}, {
                ("Pipeline", '{"Name": "shop"}'),
                ("ImageRepository", '{"RepositoryName": "gantry-imagerepository-1a2b"}'),
                ("ArtifactBucket", '{"BucketName": "gantry-artifactbucket-3c4d"}')})
            path = os.path.join(out, "import.yaml")
            imported = resolve.Resolved({"ExistingImageRepositoryName": "gantry-imagerepository-1a2b",
                                         "ExistingArtifactBucketName": "gantry-artifactbucket-3c4d"}, path=path)
            # An import takes only resources with a DeletionPolicy, and nothing else.
            self.assertEqual(set(imported.resources), set(service_import.IMPORTED))
            for logical_id, resource in imported.resources.items():
                self.assertIn("DeletionPolicy", resource, logical_id)
            lint = subprocess.run([os.path.join(os.path.dirname(sys.executable), "cfn-lint"), path],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        # The deploy after the import names them the same, so it updates them in place (a name
        # that changed would replace the pipeline and lose its history).
        full = service({"ExistingImageRepositoryName": "gantry-imagerepository-1a2b",
                        "ExistingArtifactBucketName": "gantry-artifactbucket-3c4d"})
        for logical_id, (_, prop) in service_import.IMPORTED.items():
            with self.subTest(resource=logical_id):
                self.assertEqual(full._decide({prop: full.resources[logical_id]["Properties"][prop]})[prop],
                                 imported._decide({prop: imported.resources[logical_id]["Properties"][prop]})[prop])


class StackUpdatesKeepState(unittest.TestCase):
    """What holds Gantry's state outlives any update that replaces it and the stack's deletion
    (docs/upgrade.md): the state table (deployments in flight, pending approvals), the secret
    (filled by hand) and, in the service stack, the application secrets. Checked by type, so a
    table or secret added later is held to it too."""

    KEPT = ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")

    def unkept(self, resolved: resolve.Resolved) -> list[str]:
        """Each table or secret not retained on both deletion and replacement."""
        return [f"{logical_id}: DeletionPolicy {r.get('DeletionPolicy')}, "
                f"UpdateReplacePolicy {r.get('UpdateReplacePolicy')}"
                for kind in self.KEPT for logical_id, r in resolved.of_type(kind).items()
                if (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) != ("Retain", "Retain")]

    def test_the_state_table_and_the_secret_survive_replacement_and_deletion(self) -> None:
        self.assertTrue({"StateTable", "GantrySecret"} <= set(DEFAULT.resources))
        self.assertEqual(self.unkept(DEFAULT), [])
        self.assertEqual(self.unkept(SERVICE), [])

    def test_a_table_or_secret_not_retained_is_caught(self) -> None:
        for logical_id, policy in (("StateTable", "UpdateReplacePolicy"), ("GantrySecret", "DeletionPolicy")):
            resolved = copy.copy(DEFAULT)
            resolved.resources = copy.deepcopy(DEFAULT.resources)
            del resolved.resources[logical_id][policy]
            with self.subTest(resource=logical_id, policy=policy):
                self.assertEqual(len(self.unkept(resolved)), 1)
                self.assertIn(logical_id, self.unkept(resolved)[0])

    def test_the_registry_entry_goes_with_its_service(self) -> None:
        # Not retained, on purpose: the parameter is the service's membership of the hub, made
        # whole from the stack's own parameters on every update (nothing else writes it). Kept
        # after the stack is deleted, or under its old name after a rename replaced it, it would
        # keep routing pushes to a pipeline that is gone. The hub's index of it lives in the
        # state table, which is kept.
        entry = SERVICE.resources["RegistryEntry"]
        self.assertNotIn(entry.get("DeletionPolicy"), ("Retain", "RetainExceptOnCreate", "Snapshot"))
        self.assertNotIn(entry.get("UpdateReplacePolicy"), ("Retain", "Snapshot"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
