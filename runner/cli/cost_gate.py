"""--max-cost: the most a new run can cost with the deployed limits, printed before anything starts,
and the run refused above the user's ceiling (rehearsed locally at recorded prices)."""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from runner.cli.stack import Clients
from runner.errors import UsageError
from runner.outputs import StackOutputs


def check(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> None:
    """Print the most the run can cost with the deployed limits; above --max-cost, refuse it."""
    from runner import cost

    local = args.local or bool(outputs.endpoint_url)
    if local and args.max_cost is None:  # nothing is billed: the run's one cost line says so at its end
        return
    # Locally --max-cost is rehearsed at recorded prices: refused where AWS would refuse it.
    prices = cost.RecordedPrices() if local else cost.PriceList()
    try:
        definition = clients.sfn.describe_state_machine(stateMachineArn=outputs.state_machine_arn)["definition"]
        worst = cost.worst_case(cost.RunLimits.from_definition(definition, outputs.region), prices)
    except (ClientError, BotoCoreError) as error:
        worst = {"usd": None, "unknown": [f"cannot read the state machine's definition: {error}"]}
    print(cost.describe_worst_case(worst), file=sys.stderr)
    if args.max_cost is None:
        return
    if worst["usd"] is None:
        raise UsageError(
            f"--max-cost {args.max_cost:.2f}: the worst case is unknown "
            f"({'; '.join(worst['unknown'])}), so nothing was started"
        )
    if worst["usd"] > args.max_cost:
        recorded = f" (at {cost.RECORDED_PRICES_NOTE}; AWS would refuse it too)" if local else ""
        raise UsageError(
            f"--max-cost {args.max_cost:.2f}: this run can cost up to ${worst['usd']:.2f}{recorded}; "
            "nothing was started (lower maxRuntimeSeconds, maxWaitSeconds or the instance counts, "
            "or raise --max-cost)"
        )
