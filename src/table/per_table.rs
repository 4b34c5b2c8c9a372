//! One value per table (counters, open batches, pools, sink groups), indexed by [`Table`]
//! rather than by a position, and sized by [`Table::ALL`], so that no other module writes the
//! number of tables down.

use std::ops::{Index, IndexMut};

use super::Table;

/// A `T` for each table, in the order of [`Table::ALL`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PerTable<T>([T; Table::ALL.len()]);

impl<T> PerTable<T> {
    /// The value `f` gives for each table.
    pub fn from_fn(f: impl FnMut(Table) -> T) -> Self {
        PerTable(Table::ALL.map(f))
    }

    /// Each table with its value, in the order of [`Table::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (Table, &T)> {
        Table::ALL.into_iter().zip(self.0.iter())
    }

    /// Each table with its value, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Table, &mut T)> {
        Table::ALL.into_iter().zip(self.0.iter_mut())
    }
}

/// Compares with the values listed in the order of [`Table::ALL`] (`rows == [3, 0, 0]`).
impl<T: PartialEq> PartialEq<[T; Table::ALL.len()]> for PerTable<T> {
    fn eq(&self, other: &[T; Table::ALL.len()]) -> bool {
        self.0 == *other
    }
}

impl<T> Index<Table> for PerTable<T> {
    type Output = T;

    #[inline(always)]
    fn index(&self, table: Table) -> &T {
        &self.0[table.index()]
    }
}

impl<T> IndexMut<Table> for PerTable<T> {
    #[inline(always)]
    fn index_mut(&mut self, table: Table) -> &mut T {
        &mut self.0[table.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_by_table_in_the_order_of_all() {
        let mut p = PerTable::from_fn(|t| t.name().len());
        p[Table::GuardDuty] += 100;
        let got: Vec<_> = p.iter().map(|(t, n)| (t, *n)).collect();
        assert_eq!(
            got,
            vec![
                (Table::CloudTrail, 13),
                (Table::GuardDuty, 112),
                (Table::VpcFlow, 10)
            ]
        );
        assert_eq!(PerTable::<u8>::default(), PerTable::from_fn(|_| 0));
        assert_eq!(p, [13, 112, 10]);
    }
}
