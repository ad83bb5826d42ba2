//! One module per paper: each exposes its clap arguments and a `run` function that the binary in
//! `src/bin/` calls and that tests call in quick mode.
pub mod catapults;
pub mod conv_rfm;
pub mod grokking;
pub mod icl_scaling;
pub mod lin_rfm;
pub mod more_is_better;
pub mod neural_collapse;
pub mod nystrom_precond;
pub mod rfm_tool;
pub mod rkbs_mirror_descent;
pub mod unlearning;

/// Runs one observer step of an iterative fit. Observers cannot return errors, so an error is kept
/// in `err` and the fit is asked to stop; the caller returns it after the fit.
pub(crate) fn observe(
    err: &mut Option<anyhow::Error>,
    step: impl FnOnce() -> anyhow::Result<()>,
) -> rfm::Control {
    match step() {
        Ok(()) => rfm::Control::Continue,
        Err(e) => {
            *err = Some(e);
            rfm::Control::Stop
        }
    }
}
