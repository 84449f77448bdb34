//! The worker process stops with an error when one of its components dies, instead of
//! running on half alive (and answering ready) until someone notices.

use std::time::Duration;
use td_runtime::Component;
use td_settings::Settings;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_component_that_panics_ends_the_app_with_an_error() {
    let file = std::env::temp_dir().join(format!("td-lifecycle-{}.sqlite", std::process::id()));
    let settings = Settings::load_from(
        None,
        [
            (
                "TD__DATABASE__URL",
                format!("sqlite://{}?mode=rwc", file.display()),
            ),
            ("TD__PDF_RENDERER__HEALTH_ADDR", "127.0.0.1:0".to_owned()),
            ("TD__AUTH__MODE", "off".to_owned()),
            ("TD__PDF_RENDERER__GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    )
    .expect("settings");
    let app = pdf_renderer::App::build(&settings)
        .await
        .expect("app")
        .with_component(Component::looping("planted component", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            panic!("planted fault");
        }));
    let shutdown = CancellationToken::new();

    let ended = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_until_stopped(shutdown.clone()),
    )
    .await
    .expect("the app stops by itself");
    let _ = std::fs::remove_file(&file);

    let err = ended.expect_err("a dead component ends the app with an error");
    assert!(format!("{err:#}").contains("planted fault"), "{err:#}");
    assert!(
        shutdown.is_cancelled(),
        "the app's other components were told to stop"
    );
}
