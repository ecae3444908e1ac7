//! Running child processes: echoing what runs, streaming its output, and
//! keeping a copy when the caller needs to read it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    thread,
};

/// An error message for the user; xtask prints it and exits non-zero.
pub type Result<T> = std::result::Result<T, String>;

/// The printable form of a command line.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `command` with inherited stdio; Ok if it exits successfully.
pub fn run(command: &mut Command) -> Result<()> {
    println!("$ {}", describe(command));
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// Runs `command` and returns its stdout, or None if it cannot start or
/// fails. Used to probe for installed tools, so it prints nothing.
pub fn probe(command: &mut Command) -> Option<String> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command`, streaming stdout and stderr to ours while keeping a copy
/// of both. Returns whether it succeeded, and the combined output.
pub fn run_captured(command: &mut Command) -> Result<(bool, String)> {
    println!("$ {}", describe(command));
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(command)))?;
    let copy = Arc::new(Mutex::new(String::new()));
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .enumerate()
    .map(|(i, stream)| {
        let copy = Arc::clone(&copy);
        thread::spawn(move || {
            for line in BufReader::new(stream)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if i == 0 {
                    println!("{line}");
                    let _ = std::io::stdout().flush();
                } else {
                    eprintln!("{line}");
                }
                if let Ok(mut copy) = copy.lock() {
                    copy.push_str(&line);
                    copy.push('\n');
                }
            }
        })
    })
    .collect();
    let status = child
        .wait()
        .map_err(|e| format!("`{}` did not finish: {e}", describe(command)))?;
    for pump in pumps {
        let _ = pump.join();
    }
    let output = copy.lock().map(|c| c.clone()).unwrap_or_default();
    Ok((status.success(), output))
}
