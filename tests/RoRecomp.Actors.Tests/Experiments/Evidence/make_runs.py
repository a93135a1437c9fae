"""Synthetic experiment directory (what `rorecomp compare` writes) for the evidence-rebuild fixture:
grpo and rorecomp x seeds 1, 2 for 6 steps (evaluations after 2, 4, 6), length-penalty seed 1 for 2 steps,
warm starts, configs, and the files the evidence copy must leave behind (checkpoints, journal, TensorBoard)."""
import json, os, random, sys

out = sys.argv[1]
rnd = random.Random(15)

def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)

def run(arm, seed, steps, shrink):
    d = os.path.join(out, arm, f"seed-{seed}")
    base = {"step": 0, "accuracy": 0.6 + 0.05 * seed, "mean_length": 44.0 + seed, "tool_calls": 0, "format_valid": 0.95, "responses": 101}
    write(os.path.join(d, "eval-baseline.json"), json.dumps(base, indent=2))
    write(os.path.join(d, "run.conf"), f'rorecomp {{ run.task = thinking, run.seed = {seed}, run.steps = {steps} }}\n')
    lines, last_eval = [], None
    for s in range(1, steps + 1):
        length = base["mean_length"] * (1 - shrink * s / 6) + rnd.uniform(-1, 1)
        l = {"step": s, "policy_version": s, "accuracy": round(rnd.uniform(0.6, 0.9), 4), "mean_length": round(length, 4),
             "mean_length_correct": round(length - 2, 4), "tool_calls": 0, "format_valid": 1, "responses": 256,
             "priority_size": 64 if arm == "rorecomp" else 0, "short_correct": 32, "long_incorrect": 32,
             "compensation_size": 64 if arm == "rorecomp" else 0, "buffer_size": 128, "min_policy_version": s - 1, "policy_lag": 0,
             "loss": round(rnd.uniform(-0.1, 0.1), 5), "entropy": round(1.2 - 0.05 * s + rnd.uniform(0, 0.01), 5), "clip_fraction": 0.01,
             "approx_kl": 0.001, "grad_norm": 0.5, "lr": 1e-5, "compensation_loss": 0, "compensation_weight": 1, "cursor": s * 32,
             "step_s": 10.5, "train_s": 4.25, "wall_s": 10.5 * s}
        if s % 2 == 0:
            last_eval = {"step": s, "accuracy": round(base["accuracy"] + 0.01 * s + rnd.uniform(-0.02, 0.02), 6),
                         "mean_length": round(base["mean_length"] * (1 - shrink * s / 6) + rnd.uniform(-0.5, 0.5), 6),
                         "tool_calls": 0, "format_valid": 1}
            l.update({"eval_accuracy": last_eval["accuracy"], "eval_mean_length": last_eval["mean_length"], "eval_tool_calls": 0, "eval_format_valid": 1})
        if s % 3 == 0:
            l["checkpoint"] = f"checkpoints/step-{s:06d}"
        lines.append(json.dumps(l, separators=(",", ":")))
    write(os.path.join(d, "metrics.jsonl"), "".join(x + "\n" for x in lines))
    ch = lambda f, b: round((f - b) / b * 100, 2)
    summary = {"task": "thinking", "recomposition": arm == "rorecomp", "steps": steps, "wall_s": 10.5 * steps,
               "warm_start": {k: base[k] for k in ("step", "accuracy", "mean_length", "tool_calls", "format_valid")}, "final": last_eval,
               "length_change_percent": ch(last_eval["mean_length"], base["mean_length"]),
               "accuracy_change_points": round((last_eval["accuracy"] - base["accuracy"]) * 100, 2), "tool_calls_change_percent": None}
    write(os.path.join(d, "summary.json"), json.dumps(summary, indent=2))
    # What the evidence copy leaves behind.
    write(os.path.join(d, "checkpoints", "step-000006", "model.safetensors"), "not copied")
    write(os.path.join(d, "journal.db"), "not copied")
    write(os.path.join(d, "tensorboard", "events.out.tfevents.1.host.1"), "not copied")

for seed in (1, 2):
    run("grpo", seed, 6, 0.0)
    run("rorecomp", seed, 6, 0.3)
    w = os.path.join(out, f"warm-{seed}")
    write(os.path.join(w, "sft-summary.json"), json.dumps({"task": "thinking", "steps": 300, "eval_accuracy": 0.8, "eval_mean_length": 41.0,
        "eval_tool_calls": 0, "eval_format_valid": 0.94, "seed": seed, "parameters": 1579712, "wall_s": 248.6, "checkpoint": "sft/step-000300"}, indent=2))
    write(os.path.join(w, "sft", "step-000300", "model.safetensors"), "not copied")
run("length-penalty", 1, 2, 0.4)
for arm in ("grpo", "rorecomp", "length-penalty"):
    write(os.path.join(out, "configs", f"{arm}.conf"), f"# written by rorecomp compare: the layers of {arm}\n")
write(os.path.join(out, "report", "summary.json"), "{}")
