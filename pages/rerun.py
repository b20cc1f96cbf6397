"""Region rerun: the chain on a box or polygon with other parameters, in the background."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from engine.access import rerun_size_error
from engine.config import RunConfig
from engine.errors import GroundwatchError
from engine.jobs import Job
from engine.pipeline import ExecutorSpec, Region, plan_run, run
from engine.runs import list_runs
from engine.uploads import read_region_upload
from pages._shared.gate import read_access, rerun_queue, unlocked, upload_limit_bytes
from pages._shared.state import select_run, selected_dataset, store_for_session
from pages._shared.tables import show_table

JOB_KEY = "rerun_job"

st.title("Region rerun")
dataset = selected_dataset()
if dataset is None:
    st.info("Ingest a dataset first.")
    st.stop()
store = store_for_session()
info = store.dataset(dataset)

if not unlocked("Reruns and uploads"):
    st.stop()

st.caption(
    f"Dataset {dataset}: {sum(info.points.values()):,} points, {info.crs}. Whole tiles are "
    "computed and cached; tiles already computed with the same parameters are reused."
)
defaults = RunConfig()
with st.form("rerun_form"):
    how = st.radio(
        "Region",
        ["bounding box (lon/lat)", "polygon file", "whole dataset"],
        horizontal=True,
        key="rerun_how",
    )
    west, south, east, north = info.bbox_lonlat
    c = st.columns(4)
    bbox = (
        c[0].number_input("West", value=west, format="%.5f"),
        c[1].number_input("South", value=south, format="%.5f"),
        c[2].number_input("East", value=east, format="%.5f"),
        c[3].number_input("North", value=north, format="%.5f"),
    )
    upload = st.file_uploader(
        "Polygon (GeoJSON, GeoPackage, zipped Shapefile or KML)",
        type=["geojson", "json", "gpkg", "zip", "kml"],
        key="rerun_upload",
    )
    st.markdown("**Parameters** (defaults are the papers')")
    p = st.columns(4)
    levels = p[0].multiselect(
        "Probability levels", [0.5, 0.6, 0.75, 0.9, 0.95], default=list(defaults.sites.levels)
    )
    reach = p[1].number_input(
        "Site reach beyond the points (m)", 10.0, 500.0, defaults.sites.max_beyond_m, 10.0
    )
    threshold = p[2].number_input(
        "Baseline threshold (mm/yr)", 0.5, 20.0, defaults.baseline.thresholds_mm_yr[0], 0.5
    )
    dilation = p[3].number_input("Baseline dilation (px)", 0, 60, defaults.baseline.dilation_px)
    submitted = st.form_submit_button("Run", type="primary")

pending: Job | None = st.session_state.get(JOB_KEY)
if submitted and pending is not None and pending.status in ("queued", "running"):
    st.error("Your rerun is still in the queue: one rerun at a time per visitor.")
    submitted = False
if submitted:
    region = None
    if how.startswith("bounding"):
        region = Region(bbox=bbox, lonlat=True)
    elif how.startswith("polygon"):
        if upload is None:
            st.error("Choose a polygon file, or another kind of region.")
            st.stop()
        try:  # read now, with a fixed driver; nothing of it is kept but the polygon
            polygon = read_region_upload(upload.getvalue(), upload.name,
                                         max_bytes=upload_limit_bytes())  # fmt: skip
        except GroundwatchError as exc:
            st.error(str(exc))
            st.stop()
        region = Region(polygon_lonlat=polygon)
    config = defaults.model_copy(
        update={
            "sites": defaults.sites.model_copy(
                update={"levels": tuple(sorted(levels)) or (0.5,), "max_beyond_m": float(reach)}
            ),
            "baseline": defaults.baseline.model_copy(
                update={"thresholds_mm_yr": (float(threshold),), "dilation_px": int(dilation)}
            ),
        }
    )
    try:
        plan = plan_run(config, dataset, region, store=store)
    except GroundwatchError as exc:
        st.error(str(exc))
        st.stop()
    too_big = rerun_size_error(plan.tiles - plan.tiles_cached, plan.scheduled_km2, read_access())
    if too_big:
        st.error(too_big)
        st.stop()
    if plan.cached_run:
        st.success(f"Already computed: run {plan.cached_run[:12]}. Selected it in the sidebar.")
        select_run(plan.cached_run)
        st.rerun()
    else:

        def work(progress, config=config, region=region):  # bound now, run in the queue
            return run(config, dataset, region, store=store, executor=ExecutorSpec("process"),
                       progress=progress)  # fmt: skip

        new = plan.tiles - plan.tiles_cached
        st.session_state[JOB_KEY] = rerun_queue().submit(
            f"{dataset}: {new} new tile{'s' * (new != 1)}", work, total=plan.tiles
        )


@st.fragment(run_every=1.0)
def show_job() -> None:
    """This session's rerun, and the server's queue (one rerun at a time)."""
    job: Job | None = st.session_state.get(JOB_KEY)
    if job is not None and job.status == "failed":
        st.error(job.error)
        del st.session_state[JOB_KEY]
    elif job is not None and job.status == "finished":
        st.success(
            f"Run {job.result.run_id[:12]} finished in {job.result.seconds:.0f} s: "
            f"sites {job.result.sites}. Selected it in the sidebar."
        )
        select_run(job.result.run_id)
        del st.session_state[JOB_KEY]
        st.rerun()
    elif job is not None and job.status == "queued":
        ahead = (rerun_queue().position(job) or 1) - 1
        st.info(f"Your rerun is queued: {ahead} ahead of it. Reruns run one at a time.")
    elif job is not None:
        share = job.done / job.total if job.total else 0.0
        st.progress(
            share, text=f"{job.done}/{job.total} tiles · {time.monotonic() - job.started:.0f} s"
        )
    queue = rerun_queue().jobs()
    if queue:
        st.caption("Rerun queue on this server (one at a time)")
        st.dataframe(
            [{"place": i, "rerun": j.label, "status": j.status,
              "tiles": f"{j.done}/{j.total}", "yours": j is job}
             for i, j in enumerate(queue, 1)],
            hide_index=True,
        )  # fmt: skip


show_job()

st.subheader("Runs of this dataset")
rows = [
    {
        "run": r.run_id[:12],
        "status": r.status,
        "created": r.created[:19],
        "region": "region" if r.region else "whole dataset",
        "tiles": r.tiles_total,
        **{k: v for k, v in r.summary.get("sites", {}).items()},
    }
    for r in list_runs(store, dataset)
]
show_table(pd.DataFrame(rows), width="stretch")
