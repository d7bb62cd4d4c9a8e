"""Mutation audit: which one-line bugs in the modules behind the README's promises do the tests miss?

    python bench/mutation_audit.py                      # every module below (hours on 2 busy cores)
    python bench/mutation_audit.py audio/io nodes/audio # some of them
    python bench/mutation_audit.py --list               # the modules, their functions and tests
    python bench/mutation_audit.py audio/io --survivors # also print each surviving mutant's diff

Needs ``pip install mutmut==3.8.1`` (a developer tool: not in requirements-dev.txt, CI never runs
this; it takes far too long).  For each module it copies the tracked files of this checkout into
``--work`` (default ``/tmp/synchrorama_mutation/<module>``), writes a ``setup.cfg`` that tells
mutmut which file to mutate and which test files to run, runs ``mutmut run`` there (only the
tests that call a mutated function run against it; a test run over ``timeout_multiplier`` x its
clean time counts as a kill by timeout) and prints one table: mutants, killed, survived, timed
out, without a covering test, and the score (killed + timeout) / all.  The survivors' diffs go to
``WORK/survivors.txt``.  The checkout itself is never touched.

A survivor is not always a gap: equivalent mutants (``x[0]`` -> ``x[None]`` that give the same
result, a changed log message, a default nobody passes) survive any test.  Read the diffs.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import print_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the tests of "nothing lost on failure" (the whole of test_pipeline.py renders for minutes per mutant)
_OUTPUT_TESTS = ["tests/test_video.py",
                 "tests/test_pipeline.py::test_cancel_stops_and_leaves_no_file",
                 "tests/test_pipeline.py::test_a_failed_run_keeps_an_earlier_output",
                 "tests/test_pipeline.py::test_a_run_failing_mid_render_keeps_the_earlier_video_and_json",
                 "tests/test_pipeline.py::test_the_video_carries_the_speech_its_motion_was_made_from",
                 "tests/test_pipeline.py::test_bad_input_errors",
                 "tests/test_hardening.py::test_generate_checks_the_output_before_any_stage",
                 "tests/test_hardening.py::test_cli_disk_full_is_one_error_and_leaves_nothing"]

#: module key -> (file to mutate, function-name globs to mutate or None for all, test files).
#: The tests are the ones that exercise the module's promise; restricting them keeps a run feasible.
MODULES = {
    "audio/io": ("synchrorama_core/audio/io.py",
                 ["_check_trim", "_trim_samples", "_blocks_soundfile", "_blocks_pyav", "decode_audio",
                  "trim_waveform"],
                 ["tests/test_audio.py", "tests/test_audio_nodes.py"]),
    "nodes/audio": ("nodes/audio.py", None, ["tests/test_audio_nodes.py"]),
    # the reply repairs (times, order, overlaps, gaps, missing fields); not the request text
    "scene/structured": ("synchrorama_core/scene/structured.py",
                         ["parse_time", "_get", "segments_of", "normalise_segments", "parse_reply"],
                         ["tests/test_scene.py::test_reply_repairs_fences_trailing_text_times_overlaps_and_gaps",
                          "tests/test_scene.py::test_reply_dialects_and_cut_off_json",
                          "tests/test_scene.py::test_unusable_replies_raise",
                          "tests/test_scene.py::test_normalised_segments_always_tile_the_clip",
                          "tests/test_scene.py::test_reply_time_repairs_keep_every_segment",
                          "tests/test_data_fuzz.py"]),
    # a run's output handling (run.py, shared by pipeline and conversation): OUT.json, the run's
    # temporary files, the mp4 writer call; and the pipeline's render-to-file step
    "run/output": ("synchrorama_core/run.py",
                   ["write_json", "partial_files", "reserve_outputs", "json_path_for", "check_output_path",
                    "encode_to_file"],
                   _OUTPUT_TESTS),
    "pipeline/output": ("synchrorama_core/pipeline.py", ["render_to_file"], _OUTPUT_TESTS),
    # temporary names, reserving, rename into place (every writer's, the pipeline's included)
    "outputs": ("synchrorama_core/outputs.py", None, _OUTPUT_TESTS),
    "video/stream": ("synchrorama_core/video/stream.py", ["write_stream", "encode_stream"],
                     _OUTPUT_TESTS),
    "diffusion/checkpoint": ("synchrorama_core/diffusion/checkpoint.py",
                             ["pickle_refusal", "read_state_dict", "detect_family", "load_sd_single_file",
                              "is_diffusers_sd_folder", "load_sd_folder", "_folder_or_sidecar_config", "_load_folder",
                              "load_controlnet", "load_motion_adapter"],
                             ["tests/test_diffusion.py::test_single_file_and_folder_load_the_exact_weights_offline",
                              "tests/test_diffusion.py::test_missing_models_name_the_expected_path",
                              "tests/test_diffusion.py::test_wrong_files_are_refused_clearly",
                              "tests/test_hardening.py::test_pickled_weights_are_refused_with_a_conversion_hint",
                              "tests/test_diffusion.py::test_every_diffusion_loader_refuses_a_pickle",
                              "tests/test_diffusion.py::test_diffusers_layout_files_and_folder_settings_are_used"]),
    "diffusion/loader": ("synchrorama_core/diffusion/loader.py", ["load_models"],
                         ["tests/test_diffusion.py::test_single_file_and_folder_load_the_exact_weights_offline",
                          "tests/test_diffusion.py::test_missing_models_name_the_expected_path",
                          "tests/test_diffusion.py::test_wrong_files_are_refused_clearly",
                          "tests/test_diffusion.py::test_every_diffusion_loader_refuses_a_pickle"]),
    # scheduler choice
    "diffusion/sampler": ("synchrorama_core/diffusion/sampler.py", ["make_scheduler"],
                          ["tests/test_diffusion.py::test_every_scheduler_runs_context_windows",
                           "tests/test_diffusion.py::test_sampling_starts_from_pure_noise"]),
    "timing": ("synchrorama_core/timing.py", ["n_frames", "n_frames_for_samples", "time_to_frame"],
               ["tests/test_types.py"]),
    "motion/procedural": ("synchrorama_core/motion/procedural.py", ["mouth_tracks", "blink_curve", "blink_times"],
                          ["tests/test_motion_procedural.py"]),
    "render/warp": ("synchrorama_core/render/warp.py", None, ["tests/test_render.py"]),
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", 2: "interrupted",
          -11: "segfault", -9: "segfault", None: "not checked"}


def _module_name(path: str) -> str:
    return path[:-3].replace("/", ".")


def _mutant_globs(key: str):
    path, funcs, _ = MODULES[key]
    if not funcs:
        return []
    mod = _module_name(path)
    # mutmut names a function's mutants MODULE.x_FUNC__mutmut_N (methods: MODULE.xǁCLASSǁMETHOD__mutmut_N)
    return [f"{mod}.x_{f}__mutmut_*" for f in funcs]


def _copy_tree(dst: str) -> None:
    files = subprocess.run(["git", "ls-files", "-c", "-o", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if not os.path.isfile(src) or f.startswith("bench/mutation_audit"):
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, f))


def _present(work: str, test: str) -> bool:
    """Whether ``test`` (a file, or ``file::function``) exists in the copy (a 'before' copy lacks new tests)."""
    f, _, fn = test.partition("::")
    p = os.path.join(work, f)
    if not os.path.isfile(p):
        return False
    return not fn or f"def {fn}(" in open(p, encoding="utf-8").read()


_IMPORT_MUTATED = '''import importlib as _il, os as _os, sys as _sys


def _import_mutated(name):
    """(mutation audit) import ``name`` from this copy: pytest puts the folder above the copy's root
    package first on sys.path at test set-up, and that folder holds the unmutated sources."""
    root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    if _sys.path[0] != root:
        _sys.path.insert(0, root)
    return _il.import_module(name)
'''


def _nodes_as_top_level(work: str) -> None:
    """The node tests import ``nodes`` through the pack (``<pack>.nodes.audio``, as ComfyUI does), but
    mutmut records a mutated function under the module name of its file (``nodes.audio``): in the
    copy, let those tests import the same files as the top-level package ``nodes`` (the mutated copy)."""
    tests = os.path.join(work, "tests")
    for f in os.listdir(tests):
        if f.endswith(".py"):
            p = os.path.join(tests, f)
            src = open(p, encoding="utf-8").read()
            new = src.replace('importlib.import_module(pack.__name__ + ".nodes.', '_import_mutated("nodes.') \
                     .replace('importlib.import_module(f"{pack.__name__}.nodes.', '_import_mutated(f"nodes.')
            if new != src:
                fut = "from __future__ import annotations\n"
                new = new.replace(fut, fut + _IMPORT_MUTATED, 1) if fut in new else _IMPORT_MUTATED + new
                with open(p, "w", encoding="utf-8") as out:
                    out.write(new)


def _setup_cfg(key: str, work: str) -> str:
    path, _, tests = MODULES[key]
    tests = [t for t in tests if _present(work, t)]
    # everything beside the two source packages is copied as it is (the pack's __init__.py, workflows/, ...)
    also = sorted(e for e in os.listdir(work) if e not in ("synchrorama_core", "nodes", "setup.cfg"))
    lines = ["[mutmut]", "source_paths =", "    synchrorama_core", "    nodes", "only_mutate =", f"    {path}",
             "also_copy ="] + [f"    {e}" for e in also] + [
             "pytest_add_cli_args_test_selection ="] + [f"    {t}" for t in tests] + [
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider",
             # torch and numba threads do not survive a plain fork of a process that used them
             "process_isolation = forkserver",
             "use_git_change_detection = false",
             # a mutant's CPU-time limit is (its tests' clean time + constant) x multiplier x 2; the
             # constant covers the forked pytest session's own start (collection, fixtures)
             "timeout_multiplier = 2.0", "timeout_constant = 10.0"]
    return "\n".join(lines) + "\n"


def _results(work: str, key: str):
    path, funcs, _ = MODULES[key]
    meta = os.path.join(work, "mutants", path + ".meta")
    with open(meta) as f:
        codes = json.load(f)["exit_code_by_key"]
    globs = _mutant_globs(key)
    if globs:
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatchcase(k, g) for g in globs)}
    return codes


def _tests_from(work: str, rev: str) -> None:
    """Replace the copy's tests/ with the tests as they were at git revision ``rev`` (a 'before' score)."""
    shutil.rmtree(os.path.join(work, "tests"))
    tar = subprocess.run(["git", "archive", rev, "tests"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", work], input=tar, check=True)


_LIST = """
import json, sys
from mutmut.mutation.file_mutation import mutate_file_contents
path, mod = sys.argv[1], sys.argv[2]
print(json.dumps([mod + "." + n for n in mutate_file_contents(path, open(path, encoding="utf-8").read()).mutant_names]))
"""


def _sample(work: str, key: str, n: int, python: str):
    """``n`` of the module's mutants (of its listed functions), chosen at random with a fixed seed: the
    same mutants for the same source, so a 'before' and an 'after' run of it score the same sample."""
    import random
    path = MODULES[key][0]
    names = json.loads(subprocess.run([python, "-c", _LIST, path, _module_name(path)], cwd=work, check=True,
                                      capture_output=True, text=True).stdout)
    globs = _mutant_globs(key)
    names = sorted(k for k in names if not globs or any(fnmatch.fnmatchcase(k, g) for g in globs))
    return names if len(names) <= n else sorted(random.Random(0).sample(names, n)), len(names)


def audit(key: str, work_root: str, jobs: int, timeout_s: float, show: bool, python: str, tests_from: str = "",
          sample: int = 0):
    work = os.path.join(work_root, key.replace("/", "_") + ("@" + tests_from if tests_from else ""))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    _copy_tree(work)
    if tests_from:
        _tests_from(work, tests_from)
    if MODULES[key][0].startswith("nodes/"):
        _nodes_as_top_level(work)
    with open(os.path.join(work, "setup.cfg"), "w") as f:
        f.write(_setup_cfg(key, work))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    names, total = _sample(work, key, sample, python) if sample else (_mutant_globs(key), 0)
    t = time.time()
    with open(os.path.join(work, "mutmut.log"), "w") as log:
        try:
            rc = subprocess.run([python, "-m", "mutmut", "run", "--max-children", str(jobs)] + names,
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.time() - t
    try:
        codes = _results(work, key)
        if sample:
            codes = {k: v for k, v in codes.items() if k in set(names)}
    except (OSError, ValueError, KeyError) as e:
        print(f"{key}: no results ({e}); see {work}/mutmut.log (exit {rc})", file=sys.stderr)
        return (key, "-", 0, 0, 0, 0, "-", f"{wall:.0f}")
    by = {}
    for name, code in codes.items():
        by.setdefault(STATUS.get(code, "suspicious"), []).append(name)
    n = len(codes)
    killed = len(by.get("killed", [])) + len(by.get("timeout", []))
    survivors = sorted(by.get("survived", []), key=lambda s: (s.rsplit("__mutmut_", 1)[0],
                                                              int(s.rsplit("_", 1)[1])))
    with open(os.path.join(work, "survivors.txt"), "w") as out:
        for name in survivors:
            diff = subprocess.run([python, "-m", "mutmut", "show", name], cwd=work, env=env, capture_output=True,
                                  text=True).stdout
            out.write(f"=== {name}\n{diff}\n")
            if show:
                print(f"=== {name}\n{diff}")
    score = f"{100 * killed / n:.0f}%" if n else "-"
    return (key, f"{n} of {total}" if sample else n, len(by.get("killed", [])), len(by.get("survived", [])), len(by.get("timeout", [])),
            len(by.get("no tests", [])), score, f"{wall:.0f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help=f"keys of MODULES (default: all): {', '.join(MODULES)}")
    ap.add_argument("--work", default=os.path.join("/tmp", "synchrorama_mutation"))
    ap.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    ap.add_argument("--timeout-s", type=float, default=3 * 3600, help="give up on one module after this long")
    ap.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    ap.add_argument("--tests-from", default="", metavar="REV",
                    help="run the tests as they were at this git revision (e.g. a 'before' score)")
    ap.add_argument("--sample", type=int, default=0, metavar="N",
                    help="test N mutants per module, chosen at random with a fixed seed (0 = all)")
    ap.add_argument("--list", action="store_true", help="list the modules and exit")
    a = ap.parse_args(argv)
    if a.list:
        print_table([(k, p, ",".join(f or ["*"]), " ".join(t)) for k, (p, f, t) in MODULES.items()],
                    ("module", "file", "functions", "tests"))
        return 0
    keys = a.modules or list(MODULES)
    bad = [k for k in keys if k not in MODULES]
    if bad:
        ap.error(f"unknown module(s) {bad}; known: {', '.join(MODULES)}")
    try:
        import mutmut  # noqa: F401
    except ImportError:
        ap.error("mutmut is not installed: pip install mutmut==3.8.1")
    rows = []
    for k in keys:
        rows.append(audit(k, a.work, a.jobs, a.timeout_s, a.survivors, sys.executable, a.tests_from, a.sample))
        print("\t".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    print_table(rows, ("module", "mutants", "killed", "survived", "timeout", "no test", "score", "wall s"),
                "<>>>>>>>")
    print(f"survivors' diffs: {a.work}/<module>/survivors.txt; score = (killed + timeout) / mutants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
