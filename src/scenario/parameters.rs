//! Fault parameters in file tables: which faults take which parameter, and
//! the error for one written where its fault does not take it.

/// The `fault = "..."` names of a table kind.
pub(crate) trait FaultName: Copy + PartialEq {
    /// The name as written in files.
    fn as_str(self) -> &'static str;
}

/// One parameter of a table: its name, whether the table wrote it, and
/// the faults that take it.
pub(crate) type Parameter<'a, F> = (&'static str, bool, &'a [F]);

/// Refuses the first parameter written for a fault that does not take it:
/// "`latency` applies to latency faults, not `status`".
pub(crate) fn check<F: FaultName>(fault: F, parameters: &[Parameter<'_, F>]) -> Result<(), String> {
    for (parameter, given, takers) in parameters {
        if *given && !takers.contains(&fault) {
            let takers: Vec<&str> = takers.iter().map(|f| f.as_str()).collect();
            return Err(format!(
                "`{parameter}` applies to {} faults, not `{}`",
                takers.join(", "),
                fault.as_str()
            ));
        }
    }
    Ok(())
}
