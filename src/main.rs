//! The `slostream` binary: parse the command line, set up logging, hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod demo;
use slostream::config::Config;
use slostream::loadgen::{self, Incidents};
use slostream::rules;

#[derive(Parser)]
#[command(name = "slostream", version, about = "Streaming SLO engine: Kafka request events to Prometheus SLO metrics")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Move the state directory's checkpoints aside (into `discarded-<UTC time>/` there) and
        /// start empty: for a state directory that holds another deployment's checkpoint.
        #[arg(long)]
        reset_state: bool,
        /// Which part to run: `all` (read, count and export in one process), `ingest` (count and
        /// commit delta records in Kafka transactions) or `merge` (fold delta records, export and
        /// alert). See the README's "Scaling out".
        #[arg(long, value_enum, default_value_t = RoleArg::All)]
        role: RoleArg,
        /// This member's stable name (overrides `scale.instance`; default `$HOSTNAME`): an ingest
        /// member's transactional and static group ids derive from it.
        #[arg(long)]
        instance: Option<String>,
    },
    /// Rebuild an SLI's history from the topics (after fixing a producer bug, say): its counts
    /// are left out and every retained event of its period is read again. A running slostream
    /// starts it at its next checkpoint, once no other rebuild runs; otherwise the next start does.
    Rebuild {
        #[arg(long)]
        config: PathBuf,
        /// The SLI to rebuild (repeatable).
        #[arg(long, required = true)]
        sli: Vec<String>,
    },
    /// Validate a config and print a summary.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a Prometheus rule file with the same burn-rate alerts, plus health alerts.
    Rules {
        #[arg(long)]
        config: PathBuf,
        /// The Prometheus job that scrapes slostream.
        #[arg(long, default_value = "slostream")]
        job: String,
        /// `prometheus`: a rule file; `prometheus-operator`: a `PrometheusRule` object holding
        /// the same groups.
        #[arg(long, value_enum, default_value_t = RuleFormat::Prometheus)]
        format: RuleFormat,
    },
    /// OpenSLO v1: print a config's SLIs and SLOs as documents, or a config from documents.
    Openslo {
        #[command(subcommand)]
        command: OpensloCommand,
    },
    /// The whole pipeline on an in-process Kafka with generated traffic.
    Demo {
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value_t = 200)]
        rate: u64,
    },
    /// Produce realistic request events, with incidents on a schedule, into a real Kafka.
    Loadgen {
        #[arg(long)]
        brokers: String,
        #[arg(long, default_value = "requests")]
        topic: String,
        /// Events per second; 0 sends as fast as possible.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Seconds between incident starts; 0 disables incidents.
        #[arg(long, default_value_t = 600)]
        incident_every: u64,
        /// Seconds each incident lasts.
        #[arg(long, default_value_t = 120)]
        incident_for: u64,
        /// Spread events over services svc-00000 .. svc-<N-1> instead of the example's three
        /// (for large generated configs, as in benches/e2e/scale.sh).
        #[arg(long)]
        services: Option<u32>,
        /// Pad each event to about this many bytes with fields no example SLI reads (a query
        /// list, ~20 request headers with a long user agent, a cookie); the fields SLIs read
        /// keep their values. Without it, events are about 250 bytes.
        #[arg(long, value_parser = clap::value_parser!(u32).range(loadgen::MIN_EVENT_BYTES as i64..=1_000_000))]
        event_bytes: Option<u32>,
        /// The producer's compression (librdkafka's `compression.type`).
        #[arg(long, default_value = loadgen::DEFAULT_COMPRESSION, value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
        compression: String,
    },
}

#[derive(Subcommand)]
enum OpensloCommand {
    /// Print the config's SLIs and SLOs as OpenSLO v1 documents (Service, SLI, SLO).
    Export {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check OpenSLO v1 documents and print the slostream config they describe.
    Import {
        /// Files of OpenSLO documents (YAML streams).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A slostream config whose sections other than `slis` and `slos` are kept; without it,
        /// `kafka.brokers` is `${KAFKA_BROKERS}`.
        #[arg(long)]
        base: Option<PathBuf>,
    },
}

/// `slostream rebuild`: records the request in the state directory, where a running slostream
/// (or the next start) finds it.
fn request_rebuild(config: &Config, slis: &[String]) -> ExitCode {
    for name in slis {
        if !config.slis.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = config.slis.iter().map(|s| s.name.as_str()).collect();
            eprintln!("slostream rebuild: no SLI named {name:?} in the config (it has: {})", known.join(", "));
            return ExitCode::from(2);
        }
    }
    for name in slis {
        match slostream::pipeline::request_rebuild(&config.state.dir, name) {
            Ok(path) => println!("{name}: rebuild requested in {}", path.display()),
            Err(e) => {
                eprintln!("slostream rebuild: cannot write to {}: {e}", config.state.dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "a running slostream starts the rebuild at its next checkpoint (once no other rebuild runs); otherwise its next start does"
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,librdkafka=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if matches!(cli.command, Command::Check { .. } | Command::Rules { .. } | Command::Openslo { .. }) {
        die_quietly_on_a_closed_pipe();
    }
    match cli.command {
        Command::Check { config } => match Config::load(&config) {
            Ok(c) => {
                print_summary(&c);
                ExitCode::SUCCESS
            }
            Err(e) => config_error(e),
        },
        Command::Rebuild { config, sli } => match Config::load(&config) {
            Ok(c) => request_rebuild(&c, &sli),
            Err(e) => config_error(e),
        },
        Command::Rules { config, job, format } => match Config::load(&config) {
            Ok(c) => {
                print!("{}", rules::render(&c, &job, format.into()));
                ExitCode::SUCCESS
            }
            Err(e) => config_error(e),
        },
        Command::Run { config, reset_state, role, instance } => {
            let mut config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => return config_error(e),
            };
            config.role = role.into();
            let instance = instance.or(config.scale.instance.take()).or_else(|| std::env::var("HOSTNAME").ok());
            if let Some(name) = &instance {
                if let Err(e) = slostream::config::scale::valid_instance(name) {
                    eprintln!("slostream: --instance: {e}");
                    return ExitCode::from(2);
                }
            }
            config.scale.instance = instance;
            if reset_state {
                match slostream::pipeline::reset_state(&config) {
                    Ok(Some(to)) => {
                        tracing::warn!(moved_to = %to.display(), "--reset-state: the old checkpoints were moved aside; starting empty")
                    }
                    Ok(None) => {
                        tracing::info!(dir = %config.state.dir.display(), "--reset-state: no checkpoint to move aside")
                    }
                    Err(e) => {
                        eprintln!("slostream: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            tracing::info!(role = config.role.as_str(), slis = config.slis.len(), slos = config.slos.len(), kafka = ?config.kafka, "starting");
            let secrets: Vec<String> = config.secret_values().into_iter().map(String::from).collect();
            match on_runtime(|shutdown| slostream::pipeline::roles::run(config, shutdown)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                    eprintln!("slostream: {}", slostream::config::secrets::scrub(&e.to_string(), &secrets));
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Command::Openslo { command } => openslo(command),
        Command::Demo { listen, rate } => {
            let options = demo::DemoOptions { listen, rate, ..Default::default() };
            match on_runtime(|shutdown| demo::run(options, shutdown)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("slostream demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Loadgen {
            brokers,
            topic,
            rate,
            count,
            incident_every,
            incident_for,
            services,
            event_bytes,
            compression,
        } => {
            let incidents = Incidents {
                every: Duration::from_secs(incident_every),
                lasts: Duration::from_secs(incident_for.min(incident_every)),
            };
            let stop = AtomicBool::new(false);
            let traffic = loadgen::Traffic::new(rand::random(), incidents)
                .with_services(services)
                .with_event_bytes(event_bytes.map(|n| n as usize));
            match loadgen::produce(&brokers, &topic, (rate, count, &compression), traffic, &stop) {
                Ok(p) => {
                    let average = p.bytes.checked_div(p.events).unwrap_or(0);
                    eprintln!("loadgen: produced {} events to {topic}, {average} bytes each on average", p.events);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `openslo export` and `openslo import`: the documents or the config on stdout; an unreadable
/// file or an invalid config or document exits 2, like `check`.
fn openslo(command: OpensloCommand) -> ExitCode {
    use slostream::openslo::{self, OpenSloError, Source};
    let read = |path: &PathBuf| {
        let file = path.display().to_string();
        std::fs::read_to_string(path).map(|text| Source { file: file.clone(), text }).map_err(|e| OpenSloError {
            file,
            document: String::new(),
            path: String::new(),
            message: format!("cannot read: {e}"),
        })
    };
    let out = match command {
        OpensloCommand::Export { config } => read(&config).and_then(|s| openslo::export(&s.text, &s.file)),
        OpensloCommand::Import { files, base } => files
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|sources| Ok((sources, base.as_ref().map(read).transpose()?)))
            .and_then(|(sources, base)| openslo::import(&sources, base.as_ref())),
    };
    match out {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slostream: {e}");
            ExitCode::from(2)
        }
    }
}

/// The command line's names for [`rules::Format`]; the library stays free of clap.
/// `--role`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    All,
    Ingest,
    Merge,
}

impl From<RoleArg> for slostream::config::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::All => slostream::config::Role::All,
            RoleArg::Ingest => slostream::config::Role::Ingest,
            RoleArg::Merge => slostream::config::Role::Merge,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RuleFormat {
    Prometheus,
    PrometheusOperator,
}

impl From<RuleFormat> for rules::Format {
    fn from(f: RuleFormat) -> Self {
        match f {
            RuleFormat::Prometheus => rules::Format::Prometheus,
            RuleFormat::PrometheusOperator => rules::Format::PrometheusOperator,
        }
    }
}

fn config_error(e: slostream::config::ConfigError) -> ExitCode {
    eprintln!("slostream: invalid config: {e}");
    ExitCode::from(2)
}

/// Runs `service` on a Tokio runtime, handing it a future that completes on SIGTERM or SIGINT.
///
/// The signal handlers are installed before the service starts, so a SIGTERM during start-up is
/// a graceful stop too. The runtime is shut down without waiting for blocking tasks: a Kafka call
/// stuck on an unreachable broker must not hold the exit past the grace period the service
/// already enforced.
fn on_runtime<F, Fut, T>(service: F) -> T
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
    let out = rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        service(Box::pin(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }))
        .await
    });
    rt.shutdown_background();
    out
}

/// `slostream rules ... | head` closes stdout early. Rust ignores SIGPIPE, so `print!` then
/// panics on the failed write; the commands that only print get the default action back and
/// end quietly, as `cat` does. The long-running commands keep ignoring it: for them a closed
/// socket must be an error to handle, never the end of the process.
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: called once at start, before any other thread exists; restores the default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn print_summary(c: &Config) {
    println!("{}: ok", c.file);
    println!("kafka: {} topics {:?} group {:?}", c.kafka.brokers, c.kafka.topics, c.kafka.group_id);
    println!("exporter: {}", exporter_summary(&c.exporter));
    println!("state: {}", c.state.dir.display());
    println!(
        "reports: rolling SLOs per month in {}, calendar SLOs per their period; {} closed periods kept per SLO",
        c.reports.months.zone, c.reports.keep
    );
    let scale = &c.scale;
    println!(
        "scale (--role ingest|merge): deltas topic {}.deltas ({} partitions when created), commit every {:?}, transaction timeout {:?}, static membership {}{}",
        c.kafka.group_id,
        scale.deltas_partitions,
        scale.flush_interval,
        scale.transaction_timeout,
        if scale.static_membership { "on" } else { "off" },
        scale.instance.as_deref().map(|i| format!(", member name {i:?}")).unwrap_or_default()
    );
    println!("SLIs ({}):", c.slis.len());
    for s in &c.slis {
        println!("  {}{}", s.name, s.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default());
        if let Some(b) = &s.breakdown {
            let windows: Vec<&str> = b.windows.iter().map(|w| w.label.as_str()).collect();
            let bytes = (b.max_values + 1) * slostream::window::breakdown::bytes_per_combination(c);
            println!(
                "    breakdown by {}: up to {} combinations and __other__, windows {}; at most {:.1} KB of windows",
                b.fields.join(", "),
                b.max_values,
                windows.join(", "),
                bytes as f64 / 1000.0
            );
        }
    }
    println!("SLOs ({}):", c.slos.len());
    for s in &c.slos {
        let slis: Vec<String> = s
            .components
            .iter()
            .map(|p| match s.combine {
                slostream::config::Combine::Weighted => format!("{} (weight {})", c.slis[p.sli].name, p.weight),
                _ => c.slis[p.sli].name.clone(),
            })
            .collect();
        println!(
            "  {}: objective {}% over {}, combine {}, SLIs: {}",
            s.name,
            s.objective_percent,
            s.period,
            s.combine.as_str(),
            slis.join(", ")
        );
        let windows: Vec<&str> = s.windows.iter().map(|w| w.label.as_str()).collect();
        println!("    windows: {}", windows.join(", "));
        if let slostream::config::Budgeting::Slices(b) = &s.budgeting {
            let judged = match b.target {
                Some(t) => format!("a slice is good at >= {}% good events", (t * 1e10).round() / 1e8),
                None => "the mean of the slices' ratios".to_string(),
            };
            let sparse = match b.sparse {
                slostream::config::Sparse::Good => "counts as good",
                slostream::config::Sparse::Skip => "is skipped",
            };
            println!(
                "    budgeting: {} of {}, {judged}; a slice with fewer than {} events {sparse}",
                s.budgeting.as_str(),
                slostream::config::Window::from_secs(b.slice_ms / 1000),
                b.min_events
            );
        }
        // A calendar period's factors are those of the period it is in now.
        let period = s.period_at(slostream::time::wall_ms());
        if let Some(c) = &s.calendar {
            let (mut start, mut end) = (String::new(), String::new());
            slostream::time::format_rfc3339_ms(period.start_ms, &mut start);
            slostream::time::format_rfc3339_ms(period.end_ms, &mut end);
            let days = period.len_secs() as f64 / 86_400.0;
            println!("    current {} in {}: {start} to {end} ({days:.2} days)", s.period, c.zone);
        }
        for a in &s.alerts {
            let factor = a.factor_for(period.len_secs());
            println!(
                "    {}: burn({}) > {:.4} and burn({}) > {:.4}",
                a.severity.as_str(),
                a.long,
                factor,
                a.short,
                factor
            );
        }
    }
    if !c.maintenance.is_empty() {
        println!("Maintenance ({}), events it matches left out of every SLI:", c.maintenance.len());
        for m in &c.maintenance {
            let instant = |ms: i64| {
                let mut out = String::new();
                slostream::time::format_rfc3339_ms(ms, &mut out);
                out
            };
            let span = |ms: i64| format!("{:#}", jiff::SignedDuration::from_millis(ms));
            let s = &m.schedule;
            let every = s.every_ms.map(|e| format!(" every {}", span(e))).unwrap_or_default();
            let until = s.until_ms.map(|u| format!(" until {}", instant(u))).unwrap_or_default();
            println!("  {}: from {} for {}{every}{until}", m.name, instant(s.start_ms), span(s.duration_ms));
        }
    }
}

/// Where `/metrics` is served and who may read it; the password hash is never shown.
fn exporter_summary(e: &slostream::config::ExporterConfig) -> String {
    let mut out = format!("{}://{}/metrics", e.scheme(), e.listen);
    if let Some(tls) = &e.tls {
        out += &format!(", certificate {} key {}", tls.cert_file.display(), tls.key_file.display());
    }
    match &e.basic_auth {
        Some(auth) => out += &format!(", basic auth as user {:?} on all but /health and /ready", auth.username),
        None => out += ", no authentication",
    }
    out
}
