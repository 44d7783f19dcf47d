"""The dev stack the tests run against (Pulumi.dev.yaml, the default stack): its job name prefix,
derived from its settings as the program derives it, never typed."""

from components.settings import DEFAULT_STACK, load_stack_settings

PREFIX = load_stack_settings(DEFAULT_STACK).job_name_prefix  # the dev stack's executions are `<PREFIX>--...`
