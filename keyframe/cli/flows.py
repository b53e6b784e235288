"""``keyframe prep | demo | nightly | compare``: the Prefect flows of ``flows/`` from the command line.

Prefect is imported only when one of these commands runs, after its offline settings are in
place (no analytics, no telemetry, a patient start of the temporary server on a busy machine).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from keyframe.cli.app import EXIT_FLAGGED, EXIT_OK, AttachOption, ConfigOption, JsonOption, app, config_from, info, print_json
from keyframe.config import Config, merge
from keyframe.errors import KeyframeError
from keyframe.io import check_output_dir
from keyframe.io import package_file
from keyframe.server import flow_api_url

DEMO_FIXTURE = "coffee_defect.png"  # fixtures/plates/ and fixtures/masks/, shipped as package data
_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # the temporary server's first start migrates a new database: ~18 s idle, more on a busy box
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}

_CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"

RenderOption = Annotated[Optional[str], typer.Option("--render", help="Renderer: camera (no weights) | svd | diffusers.")]
ModelOption = Annotated[
    Optional[str], typer.Option("--model", help="SVD or image-to-video weights (diffusers folder or a cached Hugging Face id); needs --render svd or diffusers.")
]
LastOption = Annotated[Optional[Path], typer.Option("--last", help="End plate of a keyframe pair (needs --render diffusers with a first-last-frame model).")]
LastMaskOption = Annotated[Optional[Path], typer.Option("--last-mask", help="Edit mask of the end plate (required with --last).")]
OutDirOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if its parent exists).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Render and check even when the gate fails.")]
UpscaleOption = Annotated[Optional[int], typer.Option(
    "--upscale", min=2, max=8, help="After the gate passes, also upscale the cleaned plate N times (upscaled.png; upscale.* config).")]
CandidatesOption = Annotated[Optional[int], typer.Option(
    "--candidates", min=1, max=32, help="Best of N: render N variants, check each, keep the steadiest (render.candidates).")]


TEMPORARY_TIP = ("tip: this run started a temporary Prefect server (~15 s); "
                 "`keyframe server start` keeps one running and saves that time")


def prefect_environment(*, foreground: bool = True) -> bool:
    """Offline Prefect settings, unless the user set them (no analytics, no telemetry), and the API to use.

    The user's own ``PREFECT_API_URL`` wins; else a running ``keyframe server``; else Prefect
    starts a temporary server in this process: then True is returned, and the command ends with
    :data:`TEMPORARY_TIP` (after its result, so an error stays one line). In the foreground (prep, demo, compare) Prefect's console shows warnings and errors
    only: the command prints its own summary, and an input error stays one line. Set
    ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=INFO`` to see every flow and task run. A user error
    is never shown with a Prefect traceback (:func:`keyframe_flows.console.hide_user_errors`).
    """
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    url, source = flow_api_url()
    if source == "keyframe server":
        os.environ["PREFECT_API_URL"] = url
    if foreground:
        os.environ.setdefault(_CONSOLE_LEVEL, "WARNING")
    from keyframe_flows.console import hide_user_errors

    hide_user_errors(os.environ.get(_CONSOLE_LEVEL, "NOTSET") if foreground else None)
    return source == "temporary"


def _tip(temporary: bool) -> None:
    if temporary:
        info(TEMPORARY_TIP)


def _render_overrides(render: str | None, model: str | None, attach: str | None = None) -> dict[str, Any]:
    if render is not None and render not in ("camera", "svd", "diffusers"):
        raise KeyframeError(f"--render must be camera, svd or diffusers, got {render}")
    return {"render": {"backend": render, "svd": {"model": model}, "diffusers": {"model": model}},
            "check": {"attach": attach}}


def _stage_overrides(upscale: int | None, candidates: int | None) -> dict[str, Any]:
    return {"upscale": {"in_prep": True if upscale else None, "scale": upscale}, "render": {"candidates": candidates}}


def _checked(cfg: Config, model: str | None, last: Path | None = None) -> Config:
    if model is not None and cfg.render.backend == "camera":
        raise KeyframeError("--model names model weights; it needs --render svd or diffusers (or render.backend)")
    if last is not None and cfg.render.backend != "diffusers":
        raise KeyframeError("--last needs --render diffusers (a first-last-frame model); the "
                            f"{cfg.render.backend} backend takes no end plate")
    return cfg


def _pair(last: Path | None, last_mask: Path | None) -> tuple[Path, Path] | None:
    """The end plate and its mask, both or neither."""
    if (last is None) != (last_mask is None):
        raise KeyframeError("--last and --last-mask go together: the end plate is cleaned and gated with its own mask")
    return None if last is None else (last.resolve(), last_mask.resolve())


def _report_prep(entry: dict[str, Any], out: Path, as_json: bool) -> None:
    from keyframe.pipeline import locate

    located = locate(entry, out.resolve())
    if as_json:
        print_json(located)
        return
    codes = ", ".join(r["code"] for r in entry["reasons"])
    info(f"{entry['verdict']}{f' ({codes})' if codes else ''}"
         + (": the gate stopped the plate before the render" if entry["stopped_at_gate"] else ""))
    if entry.get("selected_why"):
        info(f"best of N: {entry['selected_why']}")
    info(f"report: {located['html']}")


@app.command()
def prep(
    plate: Annotated[Path, typer.Argument(help="Plate image (PNG, JPEG, TIFF, WebP).")],
    mask: Annotated[Path, typer.Option("--mask", "-m", help="Edit mask (PNG or JSON shapes).")],
    out: OutDirOption,
    render: RenderOption = None,
    model: ModelOption = None,
    last: LastOption = None,
    last_mask: LastMaskOption = None,
    attach: AttachOption = None,
    upscale: UpscaleOption = None,
    candidates: CandidatesOption = None,
    config: ConfigOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> int:
    """inpaint -> gate -> [upscale] -> render -> check -> report for one plate (or a keyframe pair with --last), as a Prefect flow."""
    overrides = merge(_render_overrides(render, model, attach), _stage_overrides(upscale, candidates))
    cfg = _checked(config_from(config, overrides), model, last)
    pair = _pair(last, last_mask)
    from keyframe.pipeline import read_inputs

    read_inputs(plate, mask, cfg)  # a bad input is refused before anything is written
    if pair is not None:
        read_inputs(*pair, cfg)
    out = check_output_dir(out, create=False)  # created by the flow, removed again if it fails
    temporary = prefect_environment()
    from keyframe_flows.prep import in_foreground, prep_flow_for

    with in_foreground():
        entry = prep_flow_for(cfg)(plate.resolve(), mask.resolve(), out.resolve(), cfg, force=force, last=pair)
    _report_prep(entry, out, as_json)
    _tip(temporary)
    return EXIT_OK if entry["verdict"] == "pass" else EXIT_FLAGGED


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("keyframe-demo"),
    upscale: UpscaleOption = None,
    candidates: CandidatesOption = None,
    as_json: JsonOption = False,
) -> int:
    """Run prep on a bundled real photo (a red square to clean off a saucer) with the embedded defaults.

    Classical inpaint, camera renderer, a running `keyframe server` (else Prefect's temporary
    one); prints where the report is. Exit codes as for prep: 0 pass, 1 flagged.
    """
    plate, mask = package_file("fixtures", "plates", DEMO_FIXTURE), package_file("fixtures", "masks", DEMO_FIXTURE)
    out = check_output_dir(out, create=False)
    cfg = config_from(None, _stage_overrides(upscale, candidates))
    info(f"demo: cleaning {plate.name} and rendering a camera move into {out}/")
    temporary = prefect_environment()
    from keyframe_flows.prep import in_foreground, prep_flow_for

    with in_foreground():
        entry = prep_flow_for(cfg)(plate, mask, out.resolve(), cfg)
    _report_prep(entry, out, as_json)
    _tip(temporary)
    return EXIT_OK if entry["verdict"] == "pass" else EXIT_FLAGGED


class _DefaultRun(TyperGroup):
    """``keyframe nightly MANIFEST ...`` is ``keyframe nightly run MANIFEST ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


nightly_app = typer.Typer(
    cls=_DefaultRun,
    no_args_is_help=True,
    help="Nightly batches: `keyframe nightly MANIFEST -o DIR` runs one; `keyframe nightly serve` schedules it.",
)
app.add_typer(nightly_app, name="nightly")

ManifestArgument = Annotated[Path, typer.Argument(help="YAML manifest of shots (id, plate, mask, prompt, config).")]
ConcurrencyOption = Annotated[Optional[int], typer.Option("--concurrency", min=1, help="Shots at once (nightly.concurrency).")]
RunnerOption = Annotated[Optional[str], typer.Option("--runner", help="threads | dask (nightly.task_runner).")]
DaskOption = Annotated[
    Optional[str], typer.Option("--dask-address", help="Existing Dask scheduler, e.g. tcp://host:8786 (implies --runner dask).")
]


def _nightly_overrides(concurrency: int | None, runner: str | None, dask_address: str | None,
                       upscale: int | None = None, candidates: int | None = None) -> dict[str, Any]:
    if runner is not None and runner not in ("threads", "dask"):
        raise KeyframeError(f"--runner must be threads or dask, got {runner}")
    if dask_address is not None:
        runner = "dask"
    nightly = {"nightly": {"concurrency": concurrency, "task_runner": runner, "dask_address": dask_address}}
    return merge(nightly, _stage_overrides(upscale, candidates))


def _nightly_inputs(manifest: Path, out: Path, config: Path | None, overrides: dict[str, Any]) -> Path:
    from keyframe.nightly import load_manifest

    cfg = config_from(config, overrides)  # refuse a bad config before any work
    load_manifest(manifest, max_shots=cfg.nightly.max_shots)
    return check_output_dir(out)


@nightly_app.command("run")
def nightly_run(
    manifest: ManifestArgument,
    out: OutDirOption,
    config: ConfigOption = None,
    concurrency: ConcurrencyOption = None,
    runner: RunnerOption = None,
    dask_address: DaskOption = None,
    upscale: UpscaleOption = None,
    candidates: CandidatesOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> int:
    """Run every shot of MANIFEST into DIR; a killed run started again resumes. Exit 1 if any shot is flagged or failed.

    --upscale and --candidates apply to every shot; a shot's own ``candidates:`` field wins.
    """
    from keyframe.io.ledger import lock_run_folder

    overrides = _nightly_overrides(concurrency, runner, dask_address, upscale, candidates)
    out = _nightly_inputs(manifest, out, config, overrides)
    with lock_run_folder(out):  # a second run on this folder is refused before Prefect starts
        temporary = prefect_environment(foreground=False)
        from keyframe_flows.nightly import nightly_flow

        summary = nightly_flow(str(manifest.resolve()), str(out.resolve()),
                               None if config is None else str(config.resolve()), overrides, force)
    if as_json:
        print_json(summary)
    else:
        counts = summary["counts"]
        info(f"{counts['pass']} pass, {counts['flagged']} flagged, {counts['failed']} failed")
        info(f"summary: {out / 'summary.json'}  index: {out / 'index.html'}  timeline: {out / 'flags.otio'}")
    _tip(temporary)
    return summary["exit_code"]


@nightly_app.command("serve")
def nightly_serve(
    manifest: ManifestArgument,
    out: OutDirOption,
    cron: Annotated[str, typer.Option("--cron", help="When to run, as a cron expression (server time zone).")] = "0 2 * * *",
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "nightly",
    pool: Annotated[
        Optional[str], typer.Option("--pool", help="Register on this work pool (run by `prefect worker start`) instead of serving here.")
    ] = None,
    config: ConfigOption = None,
    concurrency: ConcurrencyOption = None,
    runner: RunnerOption = None,
    dask_address: DaskOption = None,
) -> int:
    """Register a scheduled nightly deployment on a Prefect server (`prefect server start`).

    Without --pool this process serves the schedule (keep it running); with --pool the deployment
    is registered on a work pool and this command returns.
    """
    overrides = _nightly_overrides(concurrency, runner, dask_address)
    out = _nightly_inputs(manifest, out, config, overrides)
    prefect_environment(foreground=False)
    from keyframe_flows.nightly import deploy_nightly

    parameters = {"manifest": str(manifest.resolve()), "out_dir": str(out.resolve()),
                  "config": None if config is None else str(config.resolve()), "overrides": overrides}
    if pool is None:
        info(f"serving the nightly deployment '{name}' ({cron}) from this process; keep it running, Ctrl-C stops it")
    deployment = deploy_nightly(name=name, cron=cron, parameters=parameters, pool=pool)
    if pool is not None:
        info(f"deployment {deployment} registered on work pool {pool} ({cron}); run it with: prefect worker start --pool {pool}")
    return EXIT_OK


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Revision A: a plate file, or a prep output folder.")],
    b: Annotated[Path, typer.Argument(help="Revision B: a plate file, or a prep output folder.")],
    out: OutDirOption,
    mask: Annotated[Optional[Path], typer.Option("--mask", "-m", help="Edit mask (required for plate files).")] = None,
    b_mask: Annotated[Optional[Path], typer.Option("--b-mask", help="B's edit mask, when it differs from --mask.")] = None,
    a_clip: Annotated[
        Optional[Path], typer.Option("--a-clip", help="A's clip rendered elsewhere (video, frame folder or pattern); needs --b-clip.")
    ] = None,
    b_clip: Annotated[Optional[Path], typer.Option("--b-clip", help="B's clip rendered elsewhere; needs --a-clip.")] = None,
    render: RenderOption = None,
    model: ModelOption = None,
    last: Annotated[Optional[Path], typer.Option("--last", help="End plate both revisions render towards (a cleaned keyframe; needs --render diffusers).")] = None,
    attach: AttachOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Check two revisions alike and name the more stable one.

    Without clips both are rendered here with identical seed and settings; with --a-clip and
    --b-clip (rendered elsewhere, any size, length or frame rate) each clip is checked against its
    own plate. Exit 1 if either revision is flagged.
    """
    cfg = _checked(config_from(config, _render_overrides(render, model, attach)), model, last)
    if last is not None:
        from keyframe.pipeline import read_plate_file

        read_plate_file(last, cfg)
    if (a_clip is None) != (b_clip is None):
        raise KeyframeError("give both --a-clip and --b-clip (clips rendered elsewhere), or neither (render both here)")
    clips = None if a_clip is None else (a_clip, b_clip)
    if clips and (render is not None or model is not None):
        raise KeyframeError("--render and --model choose how revisions are rendered here; with --a-clip/--b-clip nothing is")
    from keyframe.compare import revision_inputs
    from keyframe.pipeline import read_inputs
    from keyframe.revisions import open_revision_clip

    for name, revision, revision_mask, clip in (("a", a, mask, a_clip), ("b", b, b_mask or mask, b_clip)):
        plate, edit = read_inputs(*revision_inputs(revision, revision_mask), cfg)
        if clip is not None:
            open_revision_clip(f"revision {name.upper()}", clip, plate, edit, cfg)  # a clip not of its plate is refused before anything is written
    out = check_output_dir(out, create=False)
    temporary = prefect_environment()
    from keyframe_flows.compare import compare_flow
    from keyframe_flows.prep import in_foreground

    with in_foreground():
        result = compare_flow(a.resolve(), b.resolve(), None if mask is None else mask.resolve(), out.resolve(), cfg,
                              b_mask=None if b_mask is None else b_mask.resolve(),
                              clips=None if clips is None else tuple(Path(c).resolve() for c in clips),
                              last=None if last is None else last.resolve())
    if as_json:
        print_json(result)
    else:
        winner = result["more_stable"]
        shown = {"a": a_clip or a, "b": b_clip or b}
        info(f"more stable: {'revision ' + winner.upper() + ' (' + str(shown[winner]) + ')' if winner else 'neither'}"
             f" — {result['why']}")
        if result["timing"]["note"]:
            info(f"note: {result['timing']['note']}")
        info(f"comparison: {out / 'compare.html'}  json: {out / 'compare.json'}  video: {out / 'side_by_side.mp4'}")
    _tip(temporary)
    flagged = any(rev["verdict"] != "pass" for rev in result["revisions"].values())
    return EXIT_FLAGGED if flagged else EXIT_OK
