//! Software RAID.
