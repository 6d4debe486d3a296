//! `wisp run` and `wisp kubeconfig`: resolve the configuration and the data directory,
//! then start the store, the control plane and the node agent.

use std::path::PathBuf;

use crate::cli::RunArgs;
use crate::config::Config;

/// The admin kubeconfig's place under the data directory (design brief: Defaults).
pub const KUBECONFIG_RELATIVE: &str = "resources/kubeadmin/kubeconfig";

/// Loads the config and applies the command-line overrides (flags win over the file).
pub fn effective_config(
    config: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
) -> Result<Config, Box<dyn std::error::Error>> {
    let mut config = Config::load(config)?;
    if let Some(dir) = data_dir {
        config.data_dir = Some(dir);
    }
    Ok(config)
}

pub fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = effective_config(args.config.as_deref(), args.data_dir)?;
    let data_dir = config.resolved_data_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    Err(format!(
        "data dir {} ready, but the control plane is not part of this build yet",
        data_dir.display()
    )
    .into())
}

pub fn print_kubeconfig(data_dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let config = effective_config(None, data_dir)?;
    let path = config.resolved_data_dir().join(KUBECONFIG_RELATIVE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {}: {e} (has `wisp run` started with this data dir?)",
            path.display()
        )
    })?;
    print!("{text}");
    Ok(())
}
