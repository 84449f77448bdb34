use td_settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let telemetry = td_telemetry::init("nod-distributor", &settings.telemetry)?;
    let shutdown = td_runtime::shutdown_token();
    let result = match nod_distributor::App::build(&settings).await {
        Ok(app) => app.run_until_stopped(shutdown).await,
        Err(err) => Err(err),
    };
    if let Err(err) = &result {
        tracing::error!(
            error = format!("{err:#}"),
            "nod-distributor stopped with an error"
        );
    }
    telemetry.shutdown();
    result
}
