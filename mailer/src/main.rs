use td_settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let telemetry = td_telemetry::init("mailer", &settings.telemetry)?;
    let shutdown = td_runtime::shutdown_token();
    let result = match mailer::App::build(&settings).await {
        Ok(app) => app.run_until_stopped(shutdown).await,
        Err(err) => Err(err),
    };
    if let Err(err) = &result {
        tracing::error!(error = format!("{err:#}"), "mailer stopped with an error");
    }
    telemetry.shutdown();
    result
}
