//! sealfleet-proofs: a damocles-compatible external processor ("sidecar") over
//! crates.io `filecoin-proofs-api` 19.0, plus a local Groth16 parameter generator.
//!
//! Usage:
//!   sealfleet-proofs processor <stage>
//!   sealfleet-proofs paramgen --sector-size 2KiB [--no-update|--only-update|--only <kind>]
//!   sealfleet-proofs params --sector-size 2KiB      (which parameter files are needed, and present)
//!
//! Protocol (see src/core/wire/processor.ts): first stdout line `<stage> processor ready`, then
//! one `{"id","task"}` JSON object per stdin line, one `{"id","err_msg","output"}` per stdout
//! line (any order). Logs go to stderr only.

mod paramgen;
mod post;
mod stages;

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use serde_json::Value;

fn usage() -> ! {
    eprintln!(
        "usage:\n  sealfleet-proofs processor <stage>\n  sealfleet-proofs paramgen --sector-size <2KiB|8MiB|512MiB|bytes> [--no-update|--only-update|--only <porep|update|window-post>]\n  sealfleet-proofs params --sector-size <size> [same selection]   (exit 0: all present, 3: some missing)\n\nstages: {}",
        stages::STAGES.join(", ")
    );
    std::process::exit(2);
}

fn main() {
    // err_msg carries `{:?}` of the anyhow error (damocles' format); keep library backtraces out of it
    // unless asked for explicitly. Panics still print their backtrace to stderr per RUST_BACKTRACE.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();

    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("processor") => {
            let stage = args.get(2).cloned().unwrap_or_else(|| usage());
            match run_processor(&stage) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("sealfleet-proofs processor {stage}: {e:?}");
                    1
                }
            }
        }
        Some("params") => match paramgen::check(&args[2..]) {
            Ok(true) => 0,
            Ok(false) => 3,
            Err(e) => {
                eprintln!("sealfleet-proofs params: {e:?}");
                2
            }
        },
        Some("paramgen") => match paramgen::run(&args[2..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("sealfleet-proofs paramgen: {e:?}");
                1
            }
        },
        _ => usage(),
    };
    std::process::exit(code);
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs one request; an error or a panic becomes `err_msg` (never kills the process).
fn run_guarded<F: FnOnce() -> Result<Value>>(f: F) -> (Value, Value) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => (Value::Null, v),
        Ok(Err(e)) => (Value::String(format!("{e:?}")), Value::Null),
        Err(p) => (
            Value::String(format!("Panic: {}", panic_message(p.as_ref()))),
            Value::Null,
        ),
    }
}

fn run_processor(stage: &str) -> Result<()> {
    if !stages::STAGES.contains(&stage) {
        return Err(anyhow!(
            "unknown stage {stage:?}; supported: {}",
            stages::STAGES.join(", ")
        ));
    }
    let stage: &'static str = stages::STAGES
        .iter()
        .find(|s| **s == stage)
        .copied()
        .unwrap();

    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    {
        let mut out = stdout.lock().unwrap();
        writeln!(out, "{stage} processor ready")?;
        out.flush()?;
    }
    log::info!("{stage} processor ready (pid {})", std::process::id());

    let stdin = std::io::stdin();
    let mut handles = Vec::new();
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                log::error!("reading stdin: {e}");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let req: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let head: String = line.chars().take(100).collect();
                log::error!("unparseable request line ({e}): {head}");
                continue;
            }
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let task = req.get("task").cloned().unwrap_or(Value::Null);
        let stdout = stdout.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{stage}-{id}"))
            .spawn(move || {
                let started = std::time::Instant::now();
                log::info!("{stage} task {id} started");
                let (err_msg, output) = run_guarded(|| stages::handle(stage, task));
                log::info!(
                    "{stage} task {id} {} in {:.3}s",
                    if err_msg.is_null() { "done" } else { "failed" },
                    started.elapsed().as_secs_f64()
                );
                let resp = serde_json::json!({ "id": id, "err_msg": err_msg, "output": output });
                let text = serde_json::to_string(&resp).unwrap_or_else(|e| {
                    format!(
                        "{{\"id\":{},\"err_msg\":{},\"output\":null}}",
                        id,
                        Value::String(format!("serialize response: {e}"))
                    )
                });
                let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            });
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => log::error!("spawning thread: {e}"),
        }
        handles.retain(|h| !h.is_finished());
    }
    log::info!("stdin closed; {stage} processor exiting");
    // stdin EOF: the parent is gone; exit without waiting for in-flight work.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_err_msg() {
        let (err, out) = run_guarded(|| panic!("boom {}", 42));
        assert_eq!(err, Value::String("Panic: boom 42".into()));
        assert!(out.is_null());
        let (err, out) = run_guarded(|| Err(anyhow!("bad")));
        assert!(err.as_str().unwrap().starts_with("bad"));
        assert!(out.is_null());
        let (err, out) = run_guarded(|| Ok(Value::Bool(true)));
        assert!(err.is_null());
        assert_eq!(out, Value::Bool(true));
    }

    #[test]
    fn bad_task_is_an_error_not_a_panic() {
        for stage in stages::STAGES {
            let (err, out) = run_guarded(|| stages::handle(stage, serde_json::json!({"nope": 1})));
            assert!(err.is_string(), "{stage}");
            assert!(out.is_null());
        }
    }
}
