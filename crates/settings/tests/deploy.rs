//! The settings in the deployment files are settings the binaries accept.
//!
//! Every `deploy/k8s/**/*.env` file (kustomize makes the ConfigMaps and the example Secret
//! from them) and the `TD__*` environment of `deploy/compose.yaml` are loaded with
//! `Settings::load_from`, as a worker loads its environment, so an unknown key or a bad
//! value fails here instead of stopping a pod at start. Every `TD__*` name in the
//! Kubernetes manifests must be set by one of those env files, or by the manifest itself
//! (a container `env:` entry, which is loaded with its overlay's settings).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use td_settings::Settings;

/// Stands in for the value of an `env:` entry that comes from `valueFrom` (the pod's name).
const POD_NAME: &str = "order-listener-5f7c9d8b6d-x2k8q";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The files under `dir`, at any depth, whose names end with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(current) = dirs.pop() {
        let entries =
            fs::read_dir(&current).unwrap_or_else(|e| panic!("reading {}: {e}", current.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(suffix))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn is_setting_name(key: &str) -> bool {
    key.len() > "TD__".len()
        && key.starts_with("TD__")
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// The `KEY=VALUE` lines of a kustomize env file, comments and blank lines skipped. Every
/// key must be a `TD__` name: the binaries ignore any other, so a typo would pass unseen.
fn env_file(path: &Path) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (n, line) in read(path).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            panic!("{}:{}: not KEY=VALUE: {line}", path.display(), n + 1);
        };
        assert!(
            is_setting_name(key),
            "{}:{}: `{key}` is not a TD__ setting name",
            path.display(),
            n + 1
        );
        assert!(
            !pairs.iter().any(|(k, _)| k == key),
            "{}:{}: `{key}` is set twice",
            path.display(),
            n + 1
        );
        pairs.push((key.to_owned(), value.to_owned()));
    }
    pairs
}

/// The `TD__KEY: value` (or `- TD__KEY=value`) lines of a compose file, of every service.
fn compose_env(path: &Path) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (n, line) in read(path).lines().enumerate() {
        let line = line.trim();
        let line = line.strip_prefix("- ").unwrap_or(line);
        if !line.starts_with("TD__") {
            continue;
        }
        let Some((key, value)) = line.split_once(": ").or_else(|| line.split_once('=')) else {
            panic!("{}:{}: not `KEY: value`: {line}", path.display(), n + 1);
        };
        let key = key.trim();
        assert!(
            is_setting_name(key),
            "{}:{}: `{key}` is not a TD__ setting name",
            path.display(),
            n + 1
        );
        pairs.push((key.to_owned(), unquote(value.trim()).to_owned()));
    }
    pairs
}

/// The `- name: TD__…` entries of the containers' `env:` lists in a manifest, with their
/// `value:`, or `POD_NAME` for one that takes its value from elsewhere (`valueFrom`).
fn manifest_env(path: &Path) -> Vec<(String, String)> {
    let text = read(path);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .collect();
    let mut pairs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("- name:") else {
            continue;
        };
        let name = unquote(name.trim());
        if !name.starts_with("TD__") {
            continue;
        }
        let value = match lines
            .get(i + 1)
            .and_then(|next| next.strip_prefix("value:"))
        {
            Some(value) => unquote(value.trim()).to_owned(),
            None => POD_NAME.to_owned(),
        };
        pairs.push((name.to_owned(), value));
    }
    pairs
}

/// The `TD__…` names in a line; a bare prefix such as `TD__KAFKA__PRODUCER__` (in prose) is
/// not a name and is skipped.
fn setting_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("TD__") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        if !name.ends_with('_') {
            names.push(name.to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// In a container every listener must take connections from other pods, not only loopback,
/// and callers must reach the gRPC workers through their Services.
fn assert_fit_for_containers(s: &Settings, what: &str) {
    for (key, addr) in [
        ("gateway.addr", s.gateway.addr),
        ("gateway.ops_addr", s.gateway.ops_addr),
        ("order_listener.health_addr", s.order_listener.health_addr),
        ("nod_distributor.health_addr", s.nod_distributor.health_addr),
        ("pdf_renderer.health_addr", s.pdf_renderer.health_addr),
        ("pdf_renderer.grpc_addr", s.pdf_renderer.grpc_addr),
        ("mailer.health_addr", s.mailer.health_addr),
    ] {
        assert!(
            addr.ip().is_unspecified(),
            "{what}: {key} is {addr}; in a container it must be 0.0.0.0:<port>"
        );
    }
    let url = s.pdf_renderer_url();
    assert!(
        !url.contains("0.0.0.0") && !url.contains("127.0.0.1"),
        "{what}: upstreams.pdf_renderer is {url}; callers must reach the worker through its service name"
    );
    assert!(
        !s.database.migrate_on_start,
        "{what}: the migration Job (or compose's `migrate`) owns the schema; \
         TD__DATABASE__MIGRATE_ON_START must be false"
    );
}

#[test]
fn every_overlay_loads_with_the_base_settings() {
    let k8s = root().join("deploy/k8s");
    let base = k8s.join("base");

    let mut base_env = Vec::new();
    for file in files(&base.join("config"), ".env") {
        base_env.extend(env_file(&file));
    }
    assert!(
        !base_env.is_empty(),
        "no settings in deploy/k8s/base/config/*.env"
    );
    base_env.extend(env_file(&base.join("secrets.example.env")));
    let mut base_manifest_env = Vec::new();
    for file in files(&base, ".yaml") {
        base_manifest_env.extend(manifest_env(&file));
    }

    let mut overlays: Vec<PathBuf> = fs::read_dir(k8s.join("overlays"))
        .expect("deploy/k8s/overlays")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    overlays.sort();
    assert!(!overlays.is_empty(), "no overlays in deploy/k8s/overlays");

    for overlay in &overlays {
        let name = overlay.display().to_string();
        let mut overlay_env = Vec::new();
        for file in files(overlay, ".env") {
            overlay_env.extend(env_file(&file));
        }
        let environment = overlay_env
            .iter()
            .find(|(key, _)| key == "TD__ENVIRONMENT")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{name}: sets no TD__ENVIRONMENT"));

        // Later sources override earlier ones: base ConfigMaps and Secret, the overlay's
        // merge, then the containers' own `env:` entries (which win over `envFrom`).
        let mut env: BTreeMap<String, String> = base_env.iter().cloned().collect();
        env.extend(overlay_env);
        env.extend(base_manifest_env.iter().cloned());
        for file in files(overlay, ".yaml") {
            env.extend(manifest_env(&file));
        }

        let settings =
            Settings::load_from(None, env.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(settings.environment, environment, "{name}");
        // The example Secret lets the manifests render; only the dev overlay may run on it.
        let secrets = settings.check_secrets_fit_for_use();
        if environment == "dev" {
            secrets.unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            let err = secrets.expect_err(&format!("{name} starts on the example secrets"));
            assert!(err.to_string().contains("example"), "{name}: {err}");
            let mut own = env.clone();
            own.insert(
                "TD__GRPC__TOKEN".into(),
                "a-token-of-this-deployment-only".into(),
            );
            own.insert(
                "TD__DATABASE__URL".into(),
                "postgres://ticket_distribution:its-own-password@postgres/ticket_distribution"
                    .into(),
            );
            let settings = Settings::load_from(None, own).unwrap();
            settings
                .check_secrets_fit_for_use()
                .unwrap_or_else(|e| panic!("{name} with its own secrets: {e}"));
        }
        assert_eq!(
            settings.telemetry.log_format,
            td_telemetry::LogFormat::Json,
            "{name}"
        );
        assert_fit_for_containers(&settings, &name);
    }
}

#[test]
fn compose_environment_loads() {
    let path = root().join("deploy/compose.yaml");
    let env = compose_env(&path);
    assert!(!env.is_empty(), "no TD__ settings in {}", path.display());
    let settings =
        Settings::load_from(None, env).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_fit_for_containers(&settings, &path.display().to_string());
    settings
        .check_secrets_fit_for_use()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn manifests_name_only_settings_that_are_set() {
    let k8s = root().join("deploy/k8s");
    let manifests = files(&k8s, ".yaml");
    let mut defined = BTreeSet::new();
    for file in files(&k8s, ".env") {
        defined.extend(env_file(&file).into_iter().map(|(key, _)| key));
    }
    for file in &manifests {
        defined.extend(manifest_env(file).into_iter().map(|(key, _)| key));
    }
    assert!(!manifests.is_empty(), "no manifests in deploy/k8s");

    let mut unknown = Vec::new();
    for file in &manifests {
        for (n, line) in read(file).lines().enumerate() {
            for name in setting_names(line) {
                if !defined.contains(&name) {
                    unknown.push(format!("{}:{}: {name}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "settings named in deploy/k8s that no env file there sets:\n{}",
        unknown.join("\n")
    );
}
