"""Region rerun: the chain on a box or polygon with other parameters, in the background."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from engine.config import RunConfig
from engine.errors import GroundwatchError
from engine.pipeline import ExecutorSpec, Region, plan_run, run, save_upload
from engine.runs import list_runs
from pages._shared.state import select_run, selected_dataset, store_for_session
from pages._shared.tables import show_table

MAX_AREA_KM2 = 2_500.0  # ~4 default tiles: minutes on a laptop, not hours
MAX_UPLOAD_BYTES = 5 << 20


@dataclass
class RerunJob:
    """A run in a background thread; the page polls it."""

    dataset: str
    done: int = 0
    total: int = 0
    result: object = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


def _work(job: RerunJob, config: RunConfig, region: Region | None) -> None:
    try:
        job.result = run(
            config,
            job.dataset,
            region,
            store=store_for_session(),
            executor=ExecutorSpec("process"),
            progress=job.progress,
        )
    except GroundwatchError as exc:
        job.error = str(exc)
    except Exception as exc:  # shown to the user; the log keeps the traceback
        import logging

        logging.getLogger(__name__).exception("rerun failed")
        job.error = f"{type(exc).__name__}: {exc}"


st.title("Region rerun")
dataset = selected_dataset()
if dataset is None:
    st.info("Ingest a dataset first.")
    st.stop()
store = store_for_session()
info = store.dataset(dataset)

try:
    password = st.secrets.get("rerun_password")
except Exception:  # no secrets.toml: reruns are open
    password = None
if password and not st.session_state.get("rerun_unlocked"):
    typed = st.text_input("Password", type="password", key="rerun_password_input")
    if typed and hmac.compare_digest(typed, str(password)):
        st.session_state["rerun_unlocked"] = True
        st.rerun()
    st.info("Reruns and uploads need the password set in .streamlit/secrets.toml.")
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
    upload = st.file_uploader("Polygon (GeoJSON or GeoPackage)", type=["geojson", "json", "gpkg"])
    st.markdown("**Parameters** (defaults are the papers')")
    p = st.columns(4)
    levels = p[0].multiselect(
        "Probability levels", [0.5, 0.6, 0.75, 0.9, 0.95], default=list(defaults.sites.levels)
    )
    sigma = p[1].number_input("Merge Gaussian σ (px)", 1.0, 20.0, defaults.detect.merge_sigma_px)
    threshold = p[2].number_input(
        "Baseline threshold (mm/yr)", 0.5, 20.0, defaults.baseline.thresholds_mm_yr[0], 0.5
    )
    dilation = p[3].number_input("Baseline dilation (px)", 0, 60, defaults.baseline.dilation_px)
    submitted = st.form_submit_button("Run", type="primary")

if submitted:
    region = None
    if how.startswith("bounding"):
        region = Region(bbox=bbox, lonlat=True)
    elif how.startswith("polygon"):
        if upload is None:
            st.error("Choose a polygon file, or another kind of region.")
            st.stop()
        if upload.size > MAX_UPLOAD_BYTES:
            st.error(
                f"{upload.name} is {upload.size / 2**20:.1f} MB; polygon files are "
                f"limited to {MAX_UPLOAD_BYTES >> 20} MB."
            )
            st.stop()
        region = Region(aoi=save_upload(store, upload.getvalue(), upload.name))
    config = defaults.model_copy(
        update={
            "sites": defaults.sites.model_copy(update={"levels": tuple(sorted(levels)) or (0.5,)}),
            "detect": defaults.detect.model_copy(update={"merge_sigma_px": float(sigma)}),
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
    if plan.area_km2 > MAX_AREA_KM2:
        st.error(
            f"The region covers {plan.area_km2:,.0f} km² of the dataset; reruns from the "
            f"dashboard are limited to {MAX_AREA_KM2:,.0f} km². Draw a smaller box, or "
            "use the command line for large regions."
        )
        st.stop()
    if plan.cached_run:
        st.success(f"Already computed: run {plan.cached_run[:12]}. Selected it in the sidebar.")
        select_run(plan.cached_run)
        st.rerun()
    else:
        job = RerunJob(dataset, total=plan.tiles)
        job.thread = threading.Thread(target=_work, args=(job, config, region), daemon=True)
        job.thread.start()
        st.session_state["rerun_job"] = job


@st.fragment(run_every=1.0)
def show_job() -> None:
    job: RerunJob | None = st.session_state.get("rerun_job")
    if job is None:
        return
    if job.error:
        st.error(job.error)
        del st.session_state["rerun_job"]
    elif job.result is not None:
        st.success(
            f"Run {job.result.run_id[:12]} finished in {job.result.seconds:.0f} s: "
            f"sites {job.result.sites}. Selected it in the sidebar."
        )
        select_run(job.result.run_id)
        del st.session_state["rerun_job"]
        st.rerun()
    else:
        share = job.done / job.total if job.total else 0.0
        st.progress(
            share, text=f"{job.done}/{job.total} tiles · {time.monotonic() - job.started:.0f} s"
        )


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
