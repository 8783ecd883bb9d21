//! The trigger settings and limits every described fault of a file takes,
//! declared once for the `request` and `http` tables.

/// Declares a file table (a struct that denies unknown fields) with its own
/// fields followed by the shared trigger settings and limits — `rate`,
/// `every`, `first`, `after`, `window`, `overload`, `budget`,
/// `max_active`, `name` — and a `take_conditions` method that checks them
/// and moves them into a [`Conditions`](crate::scenario::conditions::Conditions).
/// `keyed` is each table's own: what it keys on differs.
macro_rules! table_with_conditions {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $( $(#[$field_meta])* $field: $ty, )*
            rate: Option<$crate::scenario::file::values::Rate>,
            every: Option<std::num::NonZeroU64>,
            first: Option<std::num::NonZeroU64>,
            after: Option<u64>,
            window: Option<$crate::scenario::file::values::WindowFile>,
            overload: Option<$crate::scenario::file::values::OverloadFile>,
            budget: Option<std::num::NonZeroU64>,
            // `0` is accepted, as in code: the rule injects nothing.
            max_active: Option<u32>,
            name: Option<String>,
        }

        impl $name {
            /// The trigger settings and limits, checked, with `keyed`.
            fn take_conditions(
                &mut self,
                keyed: Option<(std::sync::Arc<str>, f64)>,
            ) -> Result<$crate::scenario::conditions::Conditions, String> {
                let mut c = $crate::scenario::conditions::Conditions::new();
                c.rate = self.rate.take().map(|r| r.0);
                c.every = self.every.take().map(std::num::NonZeroU64::get);
                c.first = self.first.take().map(std::num::NonZeroU64::get);
                c.after = self.after.take();
                if let Some(w) = self.window.take() {
                    c.window = Some(w.checked()?);
                }
                c.keyed = keyed;
                if let Some(o) = self.overload.take() {
                    c.overload = Some(o.checked()?);
                }
                c.budget = self.budget.take().map(std::num::NonZeroU64::get);
                c.max_active = self.max_active.take();
                c.name = self.name.take().map(std::sync::Arc::from);
                Ok(c)
            }
        }
    };
}
