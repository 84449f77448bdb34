//! The built-in defaults: a developer machine with the project's own services on loopback.

pub const DEFAULTS: &str = r#"
environment = "dev"
data_dir = "data"

[database]
url = "postgres://postgres@127.0.0.1:5432/ticket_distribution"
max_connections = 10
connect_timeout_ms = 5000
migrate_on_start = true

[redis]
url = "redis://127.0.0.1:6379"

[kafka]
bootstrap_servers = "127.0.0.1:9092"
security_protocol = "plaintext"
consumer_group = "ticket-distribution-order-listener"
[kafka.producer]
[kafka.consumer]

[telemetry]
log_format = "json"
log_filter = "info,sqlx=warn,sea_orm=warn"

[gateway]
addr = "127.0.0.1:8080"
ops_addr = "127.0.0.1:8085"
request_timeout_ms = 30000
header_read_timeout_ms = 10000
statement_timeout_ms = 5000
body_limit_bytes = 65536
status_cache_ttl_ms = 2000
status_cache_capacity = 100000
public_base_url = "http://127.0.0.1:8080"
pdf_wait_ms = 20000
mail_sends_per_order_per_hour = 10
mail_sends_per_address_per_hour = 20
rate_limit_per_second = 100
rate_limit_burst = 200
rate_limit_unauthenticated_per_second = 5
rate_limit_unauthenticated_burst = 20

[order_listener]
health_addr = "127.0.0.1:8081"
batch_max_messages = 1024
batch_max_bytes = 8388608

[nod_distributor]
health_addr = "127.0.0.1:8082"
concurrency = 64
dispatch_interval_ms = 200
redispatch_after_ms = 300000
feed_interval_ms = 1000
feed_page = 200
unavailable_retry_max_ms = 300000
unavailable_horizon_ms = 21600000

[pdf_renderer]
health_addr = "127.0.0.1:8083"
grpc_addr = "127.0.0.1:50053"
render_concurrency = 2
retention_days = 90
cleanup_interval_ms = 600000
max_wait_ms = 60000
max_waiting = 256
time_zone = "Europe/Oslo"
[pdf_renderer.operator_names]

[mailer]
health_addr = "127.0.0.1:8084"
smtp_url = "smtp://127.0.0.1:2525"
from_address = "tickets@localhost"
max_message_bytes = 10485760
concurrency = 8
dispatch_interval_ms = 200
redispatch_after_ms = 300000
pdf_wait_ms = 10000
give_up_after_ms = 86400000
connect_timeout_ms = 10000
send_timeout_ms = 15000
pool_max_size = 4

[upstreams]

[auth]
mode = "jwt"
audience = "ticket-distribution"
jwks_refresh_ms = 300000
leeway_s = 30
organisation_claim = "organisationId"
cross_organisation_permission = "ticket-distribution:all-organisations"

[nod]
base_url = "http://127.0.0.1:8090"
[nod.retry]

[jobs]

# Far above what real orders need: a 20-leg journey for 9 travellers makes at most 180
# tickets. `td_domain::Limits::default()` holds the same values.
[intake]
max_order_lines = 50
max_travellers = 100
max_fare_products_per_line = 200
max_legs_per_line = 50
max_seats_per_leg = 100
max_fare_zones_per_line = 200
max_tickets_per_order = 1000
max_id_chars = 128
max_name_chars = 256
max_text_chars = 1024

[shutdown]
drain_deadline_ms = 20000
"#;
