//! HPE Smart Array hardware manager: the `ssacli`-based RAID and erase steps of
//! proliantutils' `ProliantHardwareManager`, for an unmodified Ironic conductor.
//!
//! Register it with the agent as
//! `Arc::new(ProliantHardwareManager::new(runner))` (an `Arc<dyn hwmgr::Runner>`); it
//! reports support level SERVICE_PROVIDER only where `ssacli` finds a controller in RAID
//! mode, so other machines keep the generic steps.
//!
//! Modules: [`parse`] (indentation tree), [`size`], [`model`] (controllers, arrays,
//! drives), [`config`] (input validation), [`allocate`] (drive selection), [`raid`]
//! (create/delete/apply), [`erase`], [`ssacli`] (every command line), [`manager`].
//!
//! # Steps
//!
//! Declared once each in [`manager::STEPS`]:
//!
//! * clean: `raid.create_configuration`, `raid.delete_configuration`,
//!   `deploy.erase_devices`, priority 0, no `abortable`, no `argsinfo` (as proliantutils);
//! * deploy: `raid.apply_configuration(raid_config, delete_existing=true)`, the shared
//!   declaration of the contract.
//!
//! The SUM firmware steps (`update_firmware_sum`, `flash_firmware_sum`) are not offered.
//!
//! # Decisions on proliantutils' quirks
//!
//! As read in proliantutils 2.16.0:
//! `proliantutils/hpssa/{manager,objects,disk_allocator}.py` and
//! `proliantutils/ipa_hw_manager/hardware_manager.py`.
//!
//! 1. **HBA mode.** A controller is in HBA mode when `HBA Mode Enabled` is `True` or
//!    `Controller Mode` starts with `HBA`. proliantutils excludes a controller for *any*
//!    `HBA Mode Enabled` value, even `False`; we read the value.
//! 2. **HBA controllers stay excluded** for the whole `create_configuration`, also after
//!    re-reading the controllers (proliantutils lets them back in after a refresh).
//! 3. **Returned `size_gb`** is the controller's size in GiB minus one (49 for a 50 GB
//!    request), and `MAX` is replaced by the number, as proliantutils reports it: the
//!    conductor stores this, and the 1 GiB headroom keeps a config drive fitting.
//! 4. **GB is GiB.** `size=` is sent as `size_gb × 1024` MiB; sizes printed by ssacli are
//!    read with 1024-based units, as `objects.py` reads them with oslo's
//!    `string_to_bytes` (see [`size`]).
//! 5. **Drive size check.** Automatic selection requires every drive to be at least the
//!    whole requested size, whatever the RAID level (proliantutils' rule, conservative;
//!    the test vectors of `tests/vectors.rs` depend on it).
//! 6. **`volume_name`** cannot be passed to ssacli (no verified syntax, and the test
//!    vectors show no label argument), so it is not sent; the result's `volume_name` is
//!    the controller's `Logical Drive Label` and a mismatch is logged. `is_root_volume`
//!    is kept in the result (the conductor uses it to pick the root volume), and every
//!    created logical disk gets `root_device_hint: {"wwn": "0x..."}`.
//! 7. **Missing `Unique Identifier`** is not a parse error: the logical drive has no
//!    `wwn`. Creating a logical drive whose WWN never appears fails with a clear error.
//!    An unknown `Interface Type` (e.g. NVMe) is not an error either: the drive has no
//!    `disk_type`/`interface_type`, and a filter on those never selects it.
//! 8. **Erase.** Only unassigned drives with `Status: OK` are erased, on every controller
//!    (HBA mode included); `pd <id>` is one argv element; "not supported" (in the output
//!    of a successful or failed sanitize) falls back to `erasepattern=zero`. Polling uses a
//!    configurable interval (default 10 s) and time-out (default 24 h) instead of 300 s
//!    forever. A drive we erased that ends with a status containing "fail" fails the step.
//!    The `Summary` follows the controller's `Sanitize Erase Supported` (missing or
//!    `False` = zero-fill text). The result is only `{"Disk Erase Status": ...}`:
//!    proliantutils also merges IPA's generic block-device erase, which this manager
//!    cannot call (see the report on the contract).
//! 9. **Parser.** A stack-based tree ([`parse`]) that always merges same-named sections
//!    (`objects.py: _get_dict` does not in some malformed layouts; no known output
//!    differs). Column-0 lines with nothing under them (`Warning: ...`, `Error: ...`) are
//!    not controllers. Unknown keys are kept in each object's `properties`.
//! 10. **`unassigned` and `Unassigned`** both present: both are used.
//! 11. **Messages** keep proliantutils' key phrases (`Unable to find controller named
//!     ...`, `Not enough physical disks were found to create logical disk of size ...`,
//!     `Newly created logical disk with raid_level ... not found`, `unknown size ...`)
//!     without the doubled final period, and add what to do next. Every step error ends
//!     with exactly one full stop whatever the quoted tool output ends with
//!     ([`hwmgr::text`]); the tests check every message the test vectors produce.
//! 12. **Drive counts.** proliantutils checks only each level's minimum and lets the
//!     controller refuse the rest, after earlier logical disks were created. We refuse up
//!     front what the controller refuses ([`config::drive_count_problem`]): RAID 1 and 1+0
//!     on an odd count, RAID 5+0/6+0 on a count that does not split into two or more
//!     equal parity groups of at least 3/4 drives, and every level below its minimum.
//! 13. **Hardware RAID asked, this manager not loaded** (HBA mode only, unreadable
//!     `ssacli` output, no `ssacli`): the generic manager declines a configuration without
//!     `controller: software`, so the conductor's error carries this manager's reason.
//!
//! # Validate and plan first
//!
//! proliantutils allocates, creates and re-reads one logical disk at a time, so a
//! configuration failing on its second disk leaves the first created. Here the whole
//! configuration is validated and every disk placed against a simulated controller state
//! before the first `create` (see [`allocate`]); a rejected configuration runs no
//! destructive command. As a consequence test vector TV-4 (`tests/vectors.rs`: second
//! disk unsatisfiable) runs **no** `create` instead of one. `apply_configuration` also
//! plans against the state after deletion before deleting anything. Only a shared array's
//! capacity is checked at run time (the `size=?` probe needs the array to exist); the
//! plan checks it with an estimate first.
//!
//! Further deliberate differences: explicit `physical_disks` must be unassigned and not
//! used twice in one configuration; without `controller` the one RAID-mode controller
//! holding them is used; `controller` without `physical_disks` restricts automatic
//! selection to that controller; `number_of_physical_disks` and `physical_disks` must
//! agree, and a shared disk joins only an array with that many drives (and with a
//! drive count its RAID level allows); `JBOD` and `2` are rejected with a reason; a
//! controller without a `Slot` property is addressed by the number in its name
//! (`... in Slot 2`); `delete_existing` is read with oslo's `bool_from_string` like every
//! other manager's ([`hwmgr::boolean`]).

pub mod allocate;
pub mod config;
pub mod erase;
pub mod manager;
pub mod model;
pub mod parse;
pub mod raid;
pub mod size;
pub mod ssacli;

pub use erase::EraseTiming;
pub use manager::ProliantHardwareManager;
