"""The SAM template, resolved offline into the CloudFormation AWS would deploy: the events reach
the right functions, the URLs exist, the pipeline runs its stages in promotion order with the same
image, and the configuration it generates is what the functions expect. `sam build` runs for real,
with a stand-in for cargo, to show it asks cargo-lambda for the right binary of each function
(the real compile is `make build`). Plain unittest:

    .venv/bin/python tests/template/test_template.py      # exit status != 0 on failure

(The environment lists and the IAM rules are checked in Rust, against the core's own list of
variables: tests/tests/template.rs.)
"""

from __future__ import annotations

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
# PUSHER, the account the provider authenticated, is declared for issue 12's four-eyes rule).
WEBHOOK_VARIABLES = {"COMMIT_ID", "BRANCH", "TAG", "REPOSITORY", "AUTHOR", "COMMIT_MESSAGE", "PUSHER",
                     "COMMIT_AUTHORS"}
# CodePipeline's limit on one action configuration value.
MAX_CONFIGURATION_VALUE = 1000

DEFAULT = resolve.Resolved()

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


def rule_targeting(resolved: resolve.Resolved, function: str, schedule: bool = False) -> dict[str, Any]:
    """The one rule that sends `function` events (or, with `schedule`, the one schedule)."""
    rules = [
        r["Properties"]
        for r in resolved.of_type("AWS::Events::Rule").values()
        if created(resolved, r)
        and ("ScheduleExpression" in r["Properties"]) == schedule
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


def user_parameters(resolved: resolve.Resolved, stage: str) -> dict[str, Any]:
    text = resolved.resolve(deploy_actions(resolved)[stage]["Configuration"]["UserParameters"])
    return json.loads(text)


class Events(unittest.TestCase):
    def test_notifier_hears_every_execution_stage_and_action_event_of_this_pipeline(self) -> None:
        rule = rule_targeting(DEFAULT, "NotifierFunction")
        pattern = rule["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.codepipeline"])
        self.assertEqual(set(pattern["detail-type"]), PIPELINE_EVENTS)
        self.assertEqual(pattern["detail"], {"pipeline": [{"Ref": "Pipeline"}]})

    def test_approval_hears_this_pipelines_approval_actions(self) -> None:
        pattern = rule_targeting(DEFAULT, "ApprovalRequestsFunction")["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.codepipeline"])
        self.assertEqual(pattern["detail-type"], ["CodePipeline Action Execution State Change"])
        self.assertEqual(pattern["detail"]["pipeline"], [{"Ref": "Pipeline"}])
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
        rule = rule_targeting(on, "NotifierFunction", schedule=True)
        self.assertEqual(rule["ScheduleExpression"], "cron(0 9 ? * MON *)")
        # EventBridge's own Scheduled Event: the notifier tells it from CodePipeline's by shape.
        self.assertFalse({"Input", "InputPath", "InputTransformer"} & set(rule["Targets"][0]))
        permission = on.resources["WeeklyReportPermission"]
        self.assertTrue(created(on, permission))
        self.assertEqual(permission["Properties"]["Principal"], "events.amazonaws.com")
        self.assertEqual(permission["Properties"]["FunctionName"], {"Ref": "NotifierFunction"})
        self.assertEqual(permission["Properties"]["SourceArn"], {"Fn::GetAtt": ["WeeklyReportSchedule", "Arn"]})
        # The pipeline events' rule is still the one it was.
        self.assertEqual(rule_targeting(on, "NotifierFunction")["EventPattern"]["source"], ["aws.codepipeline"])

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

    def test_the_urls_are_outputs_with_the_topic_and_the_pipeline(self) -> None:
        outputs = DEFAULT.template["Outputs"]
        self.assertEqual(outputs["WebhookUrl"]["Value"], {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]})
        self.assertEqual(
            outputs["SlackInteractivityUrl"]["Value"], {"Fn::GetAtt": ["ApprovalFunctionUrl", "FunctionUrl"]}
        )
        self.assertEqual(outputs["TopicArn"]["Value"], {"Ref": "Topic"})
        self.assertEqual(outputs["PipelineName"]["Value"], {"Ref": "Pipeline"})
        console = DEFAULT.resolve(outputs["PipelineConsoleUrl"]["Value"])
        self.assertTrue(console.startswith("https://us-east-1.console.aws.amazon.com/"), console)
        self.assertIn("/pipelines/shop/", console)


class Pipeline(unittest.TestCase):
    def test_stages_run_source_build_then_each_environment_in_order(self) -> None:
        self.assertEqual([s["Name"] for s in stages(DEFAULT)], ["Source", "Build", "Dev", "QA", "Prod"])
        self.assertEqual(DEFAULT.resources["Pipeline"]["Properties"]["PipelineType"], "V2")

    def test_prod_waits_for_an_approval_before_it_deploys(self) -> None:
        prod = {a["Name"]: a for a in stages(DEFAULT)[-1]["Actions"]}
        approve, deploy = prod["Approve"], prod["Deploy"]
        self.assertEqual(approve["ActionTypeId"]["Category"], "Approval")
        self.assertEqual(approve["ActionTypeId"]["Provider"], "Manual")
        self.assertLess(approve["RunOrder"], deploy["RunOrder"])
        for stage in stages(DEFAULT)[:-1]:
            self.assertFalse(
                any(a["ActionTypeId"]["Category"] == "Approval" for a in stage["Actions"]),
                f"{stage['Name']} should not wait for an approval",
            )

    def test_source_is_pinned_by_the_webhook_not_detected(self) -> None:
        source = stages(DEFAULT)[0]["Actions"][0]
        self.assertEqual(source["ActionTypeId"]["Provider"], "CodeStarSourceConnection")
        self.assertEqual(source["Name"], "Source")  # the route's source_action
        self.assertEqual(source["Configuration"]["DetectChanges"], "false")
        self.assertNotIn("Triggers", DEFAULT.resources["Pipeline"]["Properties"])

    def test_every_variable_the_webhook_passes_is_declared_with_a_default(self) -> None:
        declared = DEFAULT.resources["Pipeline"]["Properties"]["Variables"]
        self.assertEqual({v["Name"] for v in declared}, WEBHOOK_VARIABLES)
        for v in declared:
            self.assertTrue(str(DEFAULT.resolve(v["DefaultValue"])), f"{v['Name']} has an empty default")

    def test_the_build_exports_the_image_uri_under_the_namespace_the_deploys_read(self) -> None:
        build = stages(DEFAULT)[1]["Actions"][0]
        self.assertEqual(build["Namespace"], "BuildVariables")
        env = json.loads(build["Configuration"]["EnvironmentVariables"])
        self.assertEqual(env, [{"name": "COMMIT_ID", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"}])
        self.assertEqual(stages(DEFAULT)[0]["Actions"][0]["Namespace"], "SourceVariables")
        buildspec = DEFAULT.resources["BuildProject"]["Properties"]["Source"]["BuildSpec"]
        self.assertIn("exported-variables: [IMAGE_URI, IMAGE_TAG]", buildspec)
        self.assertIn('IMAGE_URI="$REPOSITORY_URI:$IMAGE_TAG"', buildspec)
        self.assertIn("DOCKER_BUILDKIT=1", buildspec)

    def test_every_environment_deploys_the_same_image_through_the_traffic_shifter(self) -> None:
        actions = deploy_actions(DEFAULT)
        self.assertEqual(list(actions), ["Dev", "QA", "Prod"])
        for stage, action in actions.items():
            self.assertEqual(action["ActionTypeId"]["Provider"], "Lambda")
            self.assertEqual(action["Configuration"]["FunctionName"], {"Ref": "TrafficShifterFunction"})
            self.assertEqual(user_parameters(DEFAULT, stage)["image"], "#{BuildVariables.IMAGE_URI}")

    def test_user_parameters_follow_the_traffic_shifter_contract(self) -> None:
        params = user_parameters(DEFAULT, "Prod")
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
        self.assertEqual(user_parameters(DEFAULT, "Dev")["strategy"], {"type": "all_at_once"})
        self.assertEqual(user_parameters(DEFAULT, "QA")["strategy"]["type"], "linear")

    def test_a_test_listener_and_lifecycle_hooks_reach_their_environment_only(self) -> None:
        test_listener = resolve.SAMPLE["ProdListenerArn"].rsplit("/", 1)[0] + "/0123456789abcdef"
        hooks = [{"hook_target_arn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
                  "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"]}]
        resolved = resolve.Resolved({"ProdTestListenerArn": test_listener, "ProdLifecycleHooks": json.dumps(hooks),
                                     "HookFunctionArns": [hooks[0]["hook_target_arn"]]})
        prod = user_parameters(resolved, "Prod")
        self.assertEqual(prod["test_listener_arn"], test_listener)
        self.assertEqual(prod["lifecycle_hooks"], hooks)
        qa = user_parameters(resolved, "QA")
        self.assertNotIn("test_listener_arn", qa)
        self.assertEqual(qa["lifecycle_hooks"], [])

    def test_no_alarm_names_is_an_empty_list(self) -> None:
        # An empty CommaDelimitedList reaches intrinsics as [""], as CloudFormation passes it.
        resolved = resolve.Resolved({"QaAlarmNames": [""], "ProdAlarmNames": ["only-one"]})
        self.assertEqual(user_parameters(resolved, "QA")["alarms"], [])
        self.assertEqual(user_parameters(resolved, "Prod")["alarms"], ["only-one"])

    def test_user_parameters_fit_codepipelines_limit_with_the_longest_alb_names(self) -> None:
        for stage, action in deploy_actions(DEFAULT).items():
            text = DEFAULT.resolve(action["Configuration"]["UserParameters"])
            self.assertLessEqual(len(text), MAX_CONFIGURATION_VALUE, f"{stage}: {len(text)} characters")

    def test_the_pipeline_may_only_invoke_the_traffic_shifter(self) -> None:
        statements = DEFAULT.resources["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        invokes = [s for s in statements if "lambda:InvokeFunction" in s["Action"]]
        self.assertEqual(len(invokes), 1)
        self.assertEqual(invokes[0]["Resource"], {"Fn::GetAtt": ["TrafficShifterFunction", "Arn"]})


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


class GeneratedConfiguration(unittest.TestCase):
    def test_the_generated_route_sends_this_repository_and_branch_to_this_pipeline(self) -> None:
        routes = json.loads(DEFAULT.function_environment()["webhook"]["GANTRY_ROUTES"])
        self.assertEqual(
            routes,
            [
                {
                    "provider": "github",
                    "repository": "octo-org/shop",
                    "branches": ["main"],
                    "pipeline": "shop",
                    "source_action": "Source",
                }
            ],
        )

    def test_notify_posts_to_the_chosen_channel_at_the_chosen_verbosity(self) -> None:
        env = resolve.Resolved({"NotifyVerbosity": "failures"}).function_environment()
        notify = json.loads(env["notifier"]["GANTRY_NOTIFY"])
        self.assertEqual(notify["default_channel"], "C0DEPLOYS")
        self.assertEqual(notify["pipelines"]["shop"], {"channel": "C0DEPLOYS", "verbosity": "failures"})
        self.assertEqual(env["approval"]["GANTRY_NOTIFY"], env["notifier"]["GANTRY_NOTIFY"])
        self.assertEqual(env["traffic-shifter"]["GANTRY_NOTIFY"], env["notifier"]["GANTRY_NOTIFY"])

    def test_approvers_cover_every_stage_and_four_eyes_guards_prod(self) -> None:
        approvers = json.loads(DEFAULT.function_environment()["approval"]["GANTRY_APPROVERS"])
        self.assertEqual(set(approvers["shop"]), {"Dev", "QA", "Prod"})
        self.assertEqual(
            approvers["shop"]["Prod"], {"users": ["U0ALICE", "U0BOB"], "groups": ["S0RELEASE"], "four_eyes": True}
        )
        self.assertNotIn("four_eyes", approvers["shop"]["Dev"])

    def test_no_approvers_means_nobody_approves_from_slack(self) -> None:
        env = resolve.Resolved({"ApproverUsers": "", "ApproverGroups": "", "FourEyes": "false"}).function_environment()
        prod = json.loads(env["approval"]["GANTRY_APPROVERS"])["shop"]["Prod"]
        self.assertEqual(prod, {"users": [], "groups": [], "four_eyes": False})

    def test_json_overrides_replace_the_generated_values_verbatim(self) -> None:
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
