//! What one component instance may hold, counted across the whole instance: the bytes of all its
//! linear memories together, the elements of all its tables together, and how many core
//! instances, memories and tables it may create. A component cannot escape a per-memory cap by
//! defining many memories, nor a per-module cap by nesting many modules.

use wasmtime::ResourceLimiter;

/// Core module instances, linear memories and tables one component instance may create.
///
/// Components built by our toolchain (`wasm32-wasip2`, wit-bindgen) need 3 core instances, 1
/// memory and 2 tables; the defaults leave room for components composed of a few of those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceCounts {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories.
    pub memories: u32,
    /// Tables.
    pub tables: u32,
}

impl Default for InstanceCounts {
    fn default() -> Self {
        InstanceCounts {
            core_instances: 16,
            memories: 4,
            tables: 16,
        }
    }
}

/// Table elements one instance may hold across all its tables; generous for wit-bindgen's
/// indirect-call tables (a few hundred elements).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The store limiter of every instance the runtime creates: running totals of memory bytes and
/// table elements across the instance, and the counts it may create. Remembers which limit
/// stopped the guest, so that the trap can be named.
pub(crate) struct InstanceLimiter {
    max_memory_bytes: usize,
    memory_bytes: usize,
    table_elements: usize,
    /// The growth last allowed, taken back if wasmtime then fails to grow.
    pending_memory: usize,
    pending_table: usize,
    counts: InstanceCounts,
    /// Set when a memory growth was refused: the trap that follows is a memory limit.
    pub(crate) exceeded: bool,
}

impl InstanceLimiter {
    /// A limiter allowing `max_memory_bytes` of linear memory in all and `counts`.
    pub(crate) fn new(max_memory_bytes: usize, counts: InstanceCounts) -> Self {
        InstanceLimiter {
            max_memory_bytes,
            memory_bytes: 0,
            table_elements: 0,
            pending_memory: 0,
            pending_table: 0,
            counts,
            exceeded: false,
        }
    }

    /// Linear memory the instance holds now, all memories together.
    #[cfg(test)]
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }
}

fn count(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory_bytes.saturating_add(growth);
        if total > self.max_memory_bytes {
            self.exceeded = true;
            wasmtime::bail!(
                "linear memory limit of {} bytes for the whole instance exceeded (it holds {}, \
                 and one memory wanted {growth} more)",
                self.max_memory_bytes,
                self.memory_bytes
            );
        }
        self.memory_bytes = total;
        self.pending_memory = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_bytes = self.memory_bytes.saturating_sub(self.pending_memory);
        self.pending_memory = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.table_elements.saturating_add(growth);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        self.pending_table = growth;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements = self.table_elements.saturating_sub(self.pending_table);
        self.pending_table = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        count(self.counts.core_instances)
    }

    fn tables(&self) -> usize {
        count(self.counts.tables)
    }

    fn memories(&self) -> usize {
        count(self.counts.memories)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memory_is_counted_across_every_memory_of_the_instance() {
        let mut limiter = InstanceLimiter::new(64 * MIB, InstanceCounts::default());
        // Two memories of 32 MiB each fit; a third byte anywhere does not.
        assert!(limiter.memory_growing(0, 32 * MIB, None).unwrap());
        assert!(limiter.memory_growing(0, 32 * MIB, None).unwrap());
        assert_eq!(limiter.memory_bytes(), 64 * MIB);
        assert!(limiter.memory_growing(0, 64 << 10, None).is_err());
        assert!(limiter.exceeded);
    }

    #[test]
    fn growth_that_wasmtime_could_not_make_is_not_counted() {
        let mut limiter = InstanceLimiter::new(64 * MIB, InstanceCounts::default());
        assert!(limiter.memory_growing(MIB, 48 * MIB, None).unwrap());
        limiter
            .memory_grow_failed(wasmtime::format_err!("over the memory's maximum"))
            .unwrap();
        assert_eq!(limiter.memory_bytes(), 0);
        assert!(limiter.memory_growing(0, 64 * MIB, None).unwrap());
    }

    #[test]
    fn table_elements_are_counted_across_every_table() {
        let mut limiter = InstanceLimiter::new(MIB, InstanceCounts::default());
        assert!(
            limiter
                .table_growing(0, MAX_TABLE_ELEMENTS / 2, None)
                .unwrap()
        );
        assert!(
            limiter
                .table_growing(0, MAX_TABLE_ELEMENTS / 2, None)
                .unwrap()
        );
        assert!(!limiter.table_growing(0, 1, None).unwrap());
    }
}
