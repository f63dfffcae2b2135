//! `ssacli` simulator: a small stateful stand-in for HPE's `ssacli`, so the ProLiant manager
//! runs end to end without HPE hardware, on the host and inside the QEMU ramdisk.
//!
//! It answers the subset of commands the manager issues (`hwmgr-proliant/src/ssacli.rs`)
//! with ssacli-format text (shaped like `hwmgr-proliant/tests/fixtures/ssacli/`) and
//! keeps the controllers' state in a JSON file: `$SSACLI_SIM_STATE`, default
//! `/var/lib/ssacli-sim/state.json`. When the file does not exist it is created from
//! `$SSACLI_SIM_INIT` (a JSON file) or from a built-in controller (Smart Array P822 in
//! slot 2, four unassigned 600 GB SAS HDDs and two 400 GB SAS SSDs).
//! `SSACLI_SIM_ERASE_POLLS` (default 2) is how many `show config detail` calls an erase
//! stays "Erase In Progress".

#[path = "../ssacli_ids.rs"]
mod ids;

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Read;
use std::process::ExitCode;

fn state_path() -> String {
    std::env::var("SSACLI_SIM_STATE").unwrap_or_else(|_| "/var/lib/ssacli-sim/state.json".into())
}

fn default_state() -> Value {
    let drive = |bay: u32, size: u32, media: &str| {
        json!({"id": format!("1I:1:{bay}"), "size_gb": size, "interface": "SAS", "media": media,
               "model": if media == "SSD" { "HP      MO0400JFFCF" } else { "HP      EF0600FARNA" },
               "serial": format!("SIM{bay:04}"), "status": "OK", "erase_polls": 0})
    };
    json!({"controllers": [{
        "slot": 2, "model": "Smart Array P822", "serial": "PDVTF0BRH5T0MO", "hba_mode": false,
        "sanitize_supported": true,
        "drives": [drive(1, 600, "HDD"), drive(2, 600, "HDD"), drive(3, 600, "HDD"), drive(4, 600, "HDD"),
                   drive(5, 400, "SSD"), drive(6, 400, "SSD")],
        "arrays": []
    }]})
}

fn load() -> Result<Value, String> {
    let path = state_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("bad state file {path}: {e}")),
        Err(_) => {
            let state = match std::env::var("SSACLI_SIM_INIT") {
                Ok(init) => {
                    let text = std::fs::read_to_string(&init)
                        .map_err(|e| format!("cannot read {init}: {e}"))?;
                    serde_json::from_str(&text).map_err(|e| format!("bad init file {init}: {e}"))?
                }
                Err(_) => default_state(),
            };
            save(&state)?;
            Ok(state)
        }
    }
}

fn save(state: &Value) -> Result<(), String> {
    let path = state_path();
    if let Some(dir) = std::path::Path::new(&path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &path,
        serde_json::to_string_pretty(state).unwrap_or_default(),
    )
    .map_err(|e| format!("cannot write {path}: {e}"))
}

fn raid_parity(raid: &str, n: u64) -> Option<u64> {
    // Data drives for a level over n drives; None when n is too small for the level.
    match raid {
        "0" if n >= 1 => Some(n),
        "1" | "1+0" | "10" if n >= 2 && n.is_multiple_of(2) => Some(n / 2),
        "5" if n >= 3 => Some(n - 1),
        "6" if n >= 4 => Some(n - 2),
        "50" if n >= 6 => Some(n - 2),
        "60" if n >= 8 => Some(n - 4),
        _ => None,
    }
}

fn drive<'a>(c: &'a Value, id: &str) -> Option<&'a Value> {
    c["drives"].as_array()?.iter().find(|d| d["id"] == id)
}

/// MB of data capacity an array of these drives offers at `raid`.
fn capacity_mb(c: &Value, drives: &[String], raid: &str) -> Option<u64> {
    let min_gb = drives
        .iter()
        .filter_map(|d| drive(c, d)?["size_gb"].as_u64())
        .min()?;
    Some(raid_parity(raid, drives.len() as u64)? * min_gb * 1024)
}

fn used_mb(array: &Value) -> u64 {
    array["lds"].as_array().map_or(0, |l| {
        l.iter().filter_map(|ld| ld["size_mb"].as_u64()).sum()
    })
}

/// The ids of an array's drives.
fn array_drives(array: &Value) -> Vec<String> {
    array["drives"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect()
}

fn array_free_mb(c: &Value, array: &Value) -> u64 {
    let drives = array_drives(array);
    let raid = array["lds"][0]["raid"].as_str().unwrap_or("0");
    capacity_mb(c, &drives, raid)
        .unwrap_or(0)
        .saturating_sub(used_mb(array))
}

fn assigned(c: &Value) -> Vec<String> {
    c["arrays"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(array_drives)
        .collect()
}

fn write_drive(out: &mut String, d: &Value, indent: usize, drive_type: &str) {
    let pad = " ".repeat(indent);
    let id = d["id"].as_str().unwrap_or("?");
    let parts: Vec<&str> = id.split(':').collect();
    let _ = writeln!(out, "{pad}physicaldrive {id}");
    let p = " ".repeat(indent + 3);
    let _ = writeln!(out, "{p}Port: {}", parts.first().unwrap_or(&"?"));
    let _ = writeln!(out, "{p}Box: {}", parts.get(1).unwrap_or(&"?"));
    let _ = writeln!(out, "{p}Bay: {}", parts.get(2).unwrap_or(&"?"));
    let _ = writeln!(out, "{p}Status: {}", d["status"].as_str().unwrap_or("OK"));
    let _ = writeln!(out, "{p}Drive Type: {drive_type}");
    let iface = match (d["interface"].as_str(), d["media"].as_str()) {
        (Some(i), Some("SSD")) => format!("Solid State {i}"),
        (Some(i), _) => i.to_string(),
        _ => "SAS".into(),
    };
    let _ = writeln!(out, "{p}Interface Type: {iface}");
    let _ = writeln!(out, "{p}Size: {} GB", d["size_gb"]);
    let _ = writeln!(out, "{p}Native Block Size: 512");
    if d["media"] != "SSD" {
        let _ = writeln!(out, "{p}Rotational Speed: 15000");
    }
    let _ = writeln!(out, "{p}Firmware Revision: HPD6");
    let _ = writeln!(
        out,
        "{p}Serial Number: {}",
        d["serial"].as_str().unwrap_or("")
    );
    let _ = writeln!(out, "{p}Model: {}", d["model"].as_str().unwrap_or(""));
    let _ = writeln!(out, "{p}Sanitize Erase Supported: True");
    let _ = writeln!(out, "{p}Unrestricted Sanitize Supported: False");
}

fn show_config_detail(state: &mut Value) -> String {
    let mut out = String::from("\n");
    for c in state["controllers"].as_array_mut().into_iter().flatten() {
        advance_erases(c);
        let c = &*c;
        write_controller(&mut out, c);
        for a in c["arrays"].as_array().into_iter().flatten() {
            write_array(&mut out, c, a);
        }
        write_unassigned(&mut out, c);
        out.push('\n');
    }
    out
}

/// An erase finishes after a number of polls.
fn advance_erases(c: &mut Value) {
    for d in c["drives"].as_array_mut().into_iter().flatten() {
        if d["status"] == "Erase In Progress" {
            let left = d["erase_polls"].as_u64().unwrap_or(0);
            if left == 0 {
                d["status"] = json!("Erase Complete. Reenable Before Using.");
            } else {
                d["erase_polls"] = json!(left - 1);
            }
        }
    }
}

fn is_hba(c: &Value) -> bool {
    c["hba_mode"].as_bool().unwrap_or(false)
}

fn write_controller(out: &mut String, c: &Value) {
    let hba = is_hba(c);
    let sanitize = if c["sanitize_supported"].as_bool().unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    let _ = write!(
        out,
        concat!(
            "{model} in Slot {slot}{mode}\n",
            "   Bus Interface: PCI\n",
            "   Slot: {slot}\n",
            "   Serial Number: {serial}\n",
            "   Controller Status: OK\n",
            "   Firmware Version: 8.00\n",
            "{hba_line}",
            "   Sanitize Erase Supported: {sanitize}\n",
            "   Driver Name: hpsa\n\n",
        ),
        model = c["model"].as_str().unwrap_or("Smart Array"),
        slot = c["slot"],
        mode = if hba { " (HBA Mode)" } else { "" },
        serial = c["serial"].as_str().unwrap_or(""),
        hba_line = if hba {
            "   HBA Mode Enabled: True\n"
        } else {
            ""
        },
        sanitize = sanitize,
    );
}

/// An array, its logical drives and its data drives.
fn write_array(out: &mut String, c: &Value, a: &Value) {
    let _ = write!(
        out,
        concat!(
            "   Array: {name}\n",
            "      Interface Type: SAS\n",
            "      Unused Space: {free}  MB\n",
            "      Status: OK\n",
            "      Array Type: Data\n\n\n",
        ),
        name = a["name"].as_str().unwrap_or("?"),
        free = array_free_mb(c, a),
    );
    let two_drives = a["drives"].as_array().is_some_and(|d| d.len() == 2);
    for ld in a["lds"].as_array().into_iter().flatten() {
        write_logical_drive(out, ld, two_drives);
    }
    for id in a["drives"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(d) = drive(c, id) {
            write_drive(out, d, 6, "Data Drive");
            out.push('\n');
        }
    }
}

/// A logical drive; RAID 1 shows as `1+0` unless its array has exactly two drives.
fn write_logical_drive(out: &mut String, ld: &Value, two_drives: bool) {
    let mb = ld["size_mb"].as_u64().unwrap_or(0);
    let ft = match ld["raid"].as_str().unwrap_or("0") {
        "1" if two_drives => "1",
        "1" | "10" | "1+0" => "1+0",
        r => r,
    };
    let _ = write!(
        out,
        concat!(
            "      Logical Drive: {num}\n",
            "         Size: {size:.1} GB\n",
            "         Fault Tolerance: {ft}\n",
            "         Strip Size: 256 KB\n",
            "         Status: OK\n",
            "         Caching:  Enabled\n",
            "         Unique Identifier: {wwid}\n",
            "         Logical Drive Label: {label}\n",
            "         Drive Type: Data\n\n",
        ),
        num = ld["num"],
        size = mb as f64 / 1024.0,
        ft = ft,
        wwid = ld["wwid"].as_str().unwrap_or(""),
        label = ld["label"].as_str().unwrap_or(""),
    );
}

/// The drives in no array.
fn write_unassigned(out: &mut String, c: &Value) {
    let used = assigned(c);
    let free: Vec<&Value> = c["drives"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| !used.contains(&d["id"].as_str().unwrap_or("").to_string()))
        .collect();
    if free.is_empty() {
        return;
    }
    let _ = writeln!(out, "   unassigned\n");
    let drive_type = if is_hba(c) {
        "HBA Mode Drive"
    } else {
        "Unassigned Drive"
    };
    for d in free {
        write_drive(out, d, 6, drive_type);
        out.push('\n');
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    println!("\nError: {msg}\n");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut state = match load() {
        Ok(s) => s,
        Err(e) => return fail(1, &e),
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run(&mut state, &words);
    if let Err(e) = save(&state) {
        return fail(1, &e);
    }
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err((code, msg)) => fail(code, &msg),
    }
}

fn kv<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn run(state: &mut Value, words: &[&str]) -> Result<String, (u8, String)> {
    match words {
        ["controller", "all", "show", "config", "detail"] => return Ok(show_config_detail(state)),
        ["controller", "all", "show"] => {
            let mut out = String::from("\n");
            for c in state["controllers"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{} in Slot {}",
                    c["model"].as_str().unwrap_or(""),
                    c["slot"]
                );
            }
            return Ok(out);
        }
        _ => {}
    }
    let slot = words
        .get(1)
        .and_then(|w| w.strip_prefix("slot="))
        .ok_or_else(|| (1, format!("unsupported command: {}", words.join(" "))))?;
    let controllers = state["controllers"]
        .as_array_mut()
        .ok_or((1, "no controllers".to_string()))?;
    let c = controllers
        .iter_mut()
        .find(|c| c["slot"].as_u64().map(|s| s.to_string()).as_deref() == Some(slot))
        .ok_or_else(|| {
            (
                1,
                format!("The controller identified by \"slot={slot}\" was not detected."),
            )
        })?;
    let rest = &words[2..];
    match rest {
        ["logicaldrive", "all", "delete", "forced"] => {
            c["arrays"] = json!([]);
            Ok(String::new())
        }
        ["create", "type=logicaldrive", ..] => {
            let drives: Vec<String> = kv(rest, "drives")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let raid = kv(rest, "raid")
                .ok_or((1, "raid= is required".to_string()))?
                .to_string();
            let _confirm = read_stdin();
            let used = assigned(c);
            for d in &drives {
                if drive(c, d).is_none() || used.contains(d) {
                    return Err((
                        1,
                        format!("Physical drive \"{d}\" is not an unassigned drive"),
                    ));
                }
            }
            let cap = capacity_mb(c, &drives, &raid).ok_or((
                1,
                format!("\"raid={raid}\" is not a valid option for the given drives"),
            ))?;
            let size = size_arg(rest, cap)?;
            let name = next_array_name(c);
            let ld = new_ld(c, &raid, size);
            c["arrays"]
                .as_array_mut()
                .expect("arrays")
                .push(json!({"name": name, "drives": drives, "lds": [ld]}));
            Ok(String::new())
        }
        ["array", a, "create", "type=logicaldrive", ..] => {
            let raid = kv(rest, "raid")
                .ok_or((1, "raid= is required".to_string()))?
                .to_string();
            let snapshot = c.clone();
            let array = snapshot["arrays"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["name"] == *a)
                .cloned()
                .ok_or_else(|| (1, format!("Array \"{a}\" was not found")))?;
            let drives = array_drives(&array);
            let Some(cap) = capacity_mb(&snapshot, &drives, &raid) else {
                return Err((1, format!("\"raid={raid}\" is not a valid option for array {a}\nAvailable options are:\n   0\n   1\n   5 (default value)")));
            };
            let free = cap.saturating_sub(used_mb(&array));
            if kv(rest, "size") == Some("?") {
                return Ok(format!("\n\nAvailable options are:\n   Max: {free} (Units in MB)\n   Min: 16 (Units in MB)\n\n\n"));
            }
            let _confirm = read_stdin();
            let size = size_arg(rest, free)?;
            let ld = new_ld(c, &raid, size);
            for x in c["arrays"].as_array_mut().into_iter().flatten() {
                if x["name"] == *a {
                    x["lds"].as_array_mut().expect("lds").push(ld.clone());
                }
            }
            Ok(String::new())
        }
        [pd, "modify", "erase", ..] if pd.starts_with("pd ") => {
            let id = &pd[3..];
            let pattern = kv(rest, "erasepattern").unwrap_or("zero");
            let sanitize = c["sanitize_supported"].as_bool().unwrap_or(false);
            if pattern != "zero" && !sanitize {
                return Ok(format!(
                    "\nDrive {id}: This operation is not supported in this physical drive\n"
                ));
            }
            let polls: u64 = std::env::var("SSACLI_SIM_ERASE_POLLS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2);
            let d = c["drives"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .find(|d| d["id"] == id)
                .ok_or_else(|| (1, format!("Physical drive \"{id}\" was not found")))?;
            d["status"] = json!("Erase In Progress");
            d["erase_polls"] = json!(polls);
            Ok(String::new())
        }
        _ => Err((1, format!("unsupported command: {}", words.join(" ")))),
    }
}

fn read_stdin() -> String {
    let mut s = String::new();
    let _ = std::io::stdin().read_to_string(&mut s);
    s
}

fn size_arg(words: &[&str], max_mb: u64) -> Result<u64, (u8, String)> {
    match kv(words, "size") {
        None | Some("max") => Ok(max_mb),
        Some(v) => {
            let mb: u64 = v.parse().map_err(|_| (1, format!("invalid size={v}")))?;
            if mb > max_mb {
                return Err((
                    1,
                    format!("The specified size ({mb} MB) exceeds the maximum ({max_mb} MB)"),
                ));
            }
            Ok(mb)
        }
    }
}

fn next_array_name(c: &Value) -> String {
    let used: Vec<String> = c["arrays"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str().map(String::from))
        .collect();
    (b'A'..=b'Z')
        .map(|b| (b as char).to_string())
        .find(|n| !used.contains(n))
        .unwrap_or_else(|| "AA".into())
}

fn new_ld(c: &mut Value, raid: &str, size_mb: u64) -> Value {
    let count = c["ld_counter"].as_u64().unwrap_or(0) + 1;
    c["ld_counter"] = json!(count);
    let slot = c["slot"].as_u64().unwrap_or(0);
    json!({"num": count, "raid": raid, "size_mb": size_mb,
           "wwid": ids::ld_unique_identifier(slot, count),
           "label": format!("{:08X}PDVTF0BRH5T0MO{count:04X}", slot)})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a command line as the manager sends it: split at spaces, except that
    /// `pd <id>` is one argument.
    fn run_line(state: &mut Value, line: &str) -> Result<String, (u8, String)> {
        let mut words: Vec<String> = vec![];
        for w in line.split(' ') {
            match words.last_mut() {
                Some(last) if last == "pd" => *last = format!("pd {w}"),
                _ => words.push(w.to_string()),
            }
        }
        run(state, &words.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn create_show_delete() {
        let mut s = default_state();
        run_line(
            &mut s,
            "controller slot=2 create type=logicaldrive drives=1I:1:1,1I:1:2 raid=1 size=51200",
        )
        .unwrap();
        let text = show_config_detail(&mut s);
        assert!(text.contains("   Array: A"), "{text}");
        assert!(text.contains("Size: 50.0 GB"), "{text}");
        assert!(text.contains("Unique Identifier: 600508B1001C"), "{text}");
        assert!(text.contains("      physicaldrive 1I:1:3"), "{text}");
        let probe = run_line(
            &mut s,
            "controller slot=2 array A create type=logicaldrive raid=1 size=?",
        )
        .unwrap();
        assert!(
            probe.contains(&format!("Max: {} (Units in MB)", 600 * 1024 - 51200)),
            "{probe}"
        );
        assert!(run_line(
            &mut s,
            "controller slot=2 create type=logicaldrive drives=1I:1:1,1I:1:3 raid=1"
        )
        .is_err());
        run_line(&mut s, "controller slot=2 logicaldrive all delete forced").unwrap();
        assert!(!show_config_detail(&mut s).contains("Array: A"));
    }

    #[test]
    fn erase_progresses_and_completes() {
        std::env::set_var("SSACLI_SIM_ERASE_POLLS", "1");
        let mut s = default_state();
        run_line(
            &mut s,
            "controller slot=2 pd 1I:1:5 modify erase erasepattern=block unrestricted=off forced",
        )
        .unwrap();
        assert!(show_config_detail(&mut s).contains("Status: Erase In Progress"));
        assert!(
            show_config_detail(&mut s).contains("Status: Erase Complete. Reenable Before Using.")
        );
        s["controllers"][0]["sanitize_supported"] = json!(false);
        let out = run_line(
            &mut s,
            "controller slot=2 pd 1I:1:1 modify erase erasepattern=overwrite unrestricted=off forced",
        )
        .unwrap();
        assert!(out.contains("not supported"));
    }
}
