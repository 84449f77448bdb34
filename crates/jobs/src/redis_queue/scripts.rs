//! The Lua scripts that make each queue operation one atomic step in Redis. They live in
//! `lua/` as plain files so they read (and diff) as Lua; each file's header says its keys,
//! arguments and reply.

use redis::Script;
use std::sync::LazyLock;

pub(super) static ENQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/enqueue.lua")));
pub(super) static RECEIVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/receive.lua")));
pub(super) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/settle.lua")));
pub(super) static STATS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/stats.lua")));
