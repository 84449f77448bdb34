use td_settings::Settings;

#[global_allocator]
static ALLOCATOR: pdf_renderer::Allocator = pdf_renderer::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let telemetry = td_telemetry::init("pdf-renderer", &settings.telemetry)?;
    let shutdown = td_runtime::shutdown_token();
    let result = match pdf_renderer::App::build(&settings).await {
        Ok(app) => app.run_until_stopped(shutdown).await,
        Err(err) => Err(err),
    };
    if let Err(err) = &result {
        tracing::error!(
            error = format!("{err:#}"),
            "pdf-renderer stopped with an error"
        );
    }
    telemetry.shutdown();
    result
}
