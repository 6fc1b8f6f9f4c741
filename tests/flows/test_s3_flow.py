"""The flow from s3:// inputs into an s3:// output: the CLI's rows, spools in the bucket, resume does nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene

from datahygiene.core.config import load_config
from datahygiene.engine.run import run
from datahygiene.io.rundir import RunDir
from datahygiene.io.storage import Store
from datahygiene.reports.verify import verify_run
from tests.flows.data import config_dict, make_inputs, write_config


def _rows(store: Store, inputs: str) -> dict[str, list[dict[str, object]]]:
    """Rows per route with the input location in ids and ``source_shard`` written as ``IN``."""
    rows: dict[str, list[dict[str, object]]] = {}
    for route in ("kept", "rejected", "quarantined"):
        for name in store.listing(route):
            for row in pq.read_table(pa.py_buffer(store.read_bytes(name))).to_pylist():
                named = {k: v.replace(inputs, "IN") if isinstance(v, str) else v for k, v in row.items()}
                rows.setdefault(route, []).append(named)
    return rows


@pytest.mark.parametrize("partitioned", [False, True], ids=["serial", "partitioned"])
def test_flow_from_s3_to_s3_writes_the_cli_rows(
    prefect_server: str, bucket: str, tmp_path: Path, partitioned: bool
) -> None:
    local = tmp_path / "in"
    inputs = make_inputs(local)
    store = Store.open(f"{bucket}/in")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(path, path.relative_to(local).as_posix())
    remote_inputs = [value.replace(str(local), f"{bucket}/in") for value in inputs]

    cli = run(
        load_config(write_config(tmp_path / "config.yaml")), remote_inputs, f"{bucket}/cli", write_documents=False
    )
    assert cli.exit_code == 0
    params = HygieneParams(
        inputs=remote_inputs,
        output=f"{bucket}/flow-{partitioned}",
        config=config_dict(),
        write_datasheet=False,
        task_runner=TaskRunnerSettings(kind="threads", workers=2, partitioned=partitioned),
    )
    state = hygiene(params, return_state=True)
    assert state.is_completed()
    flow_store, cli_store = Store.open(f"{bucket}/flow-{partitioned}"), Store.open(f"{bucket}/cli")
    names = [n for n in cli_store.listing() if n.split("/")[0] in ("kept", "rejected", "quarantined")]
    assert {n: cli_store.read_bytes(n) for n in names} == {n: flow_store.read_bytes(n) for n in names}
    assert _rows(flow_store, f"{bucket}/in")["rejected"]
    assert verify_run(RunDir.at(f"{bucket}/flow-{partitioned}")) == []
    assert not any(name.startswith("_tmp/") for name in flow_store.listing()), "spools are removed"

    again = hygiene(params, return_state=True)  # a rerun of the finished run: nothing to do
    assert again.is_completed()
    assert again.result()["committed_now"] == []
