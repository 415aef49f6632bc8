//! `maeul`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

use ledger::scheme::SchemeConfig;
use maeul::{data_dir, drill};

mod allocator;

#[derive(Parser, Debug)]
#[command(
    name = "maeul",
    version,
    about = "Regional digital currencies: a ledger that cannot move money the wrong way"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serves every currency in the data directory over the HTTP API, with its bank
    /// jobs (sweep, auto-charge, expiry, daily settlement). On an empty directory it
    /// creates the demo currency (1,000 citizens, 100 merchants) with a simulated bank
    /// and synthetic payments. Ctrl-C stops it gracefully.
    Serve {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Where the HTTP API listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Where the built-in simulated bank listens (when no --bank-url is given).
        #[arg(long, default_value = "127.0.0.1:7070")]
        bank_listen: std::net::SocketAddr,
        /// Use this bank service instead of the built-in simulated bank.
        #[arg(long)]
        bank_url: Option<String>,
        /// Synthetic payments per second for the demo currency (0: none).
        #[arg(long, default_value_t = 200)]
        demo_rate: u64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// The scheme file (TOML) a new demo currency runs under (default: the
        /// Busan-like scheme, `schemes/busan-like.toml`).
        #[arg(long)]
        scheme: Option<PathBuf>,
        /// Sign-ups and sign-ins a second from one client address (IPv6: per /64);
        /// bursts of ten times that pass.
        #[arg(long, default_value_t = service::limits::WriteLimit::PER_ADDRESS.per_second)]
        sign_ins_per_address: u32,
        /// HTTP connections open at once from one client address (IPv6: per /64); more
        /// are answered 503 and closed. A load generator on this machine needs more.
        #[arg(long, default_value_t = server::connections::CONNECTIONS_PER_ADDRESS_MAX)]
        connections_per_address: usize,
        /// Requests handled at once; more wait their turn by class at the gate (counter
        /// payments first), or are told busy or handed a waiting-room ticket.
        #[arg(long, default_value_t = server::IN_FLIGHT_MAX)]
        places: usize,
        /// The most of the places a class may hold, as CLASS=PERCENT (repeatable). The
        /// classes: counter, operate, refund, charge, sign_in, sign_up, browse.
        #[arg(long = "class-cap", value_name = "CLASS=PERCENT")]
        class_caps: Vec<String>,
        /// A share of the places kept for a class while it has someone waiting, ahead of
        /// more important ones, as CLASS=PERCENT (repeatable).
        #[arg(long = "class-reserve", value_name = "CLASS=PERCENT")]
        class_reserves: Vec<String>,
        /// A map tile server for the citizens' nearby map, as an address with {z}, {x}
        /// and {y} (for example https://tile.openstreetmap.org/{z}/{x}/{y}.png). Without
        /// one, or when it does not answer, the map is drawn plain (points and distances).
        #[arg(long)]
        map_tiles: Option<String>,
        /// The attribution the tile server's terms ask for, shown under the map.
        #[arg(long, default_value = "")]
        map_tiles_attribution: String,
        /// Currencies this node just took over with `maeul migrate cutover`: their
        /// handover halt ends (journaled) once they are open.
        #[arg(long, hide = true)]
        resume_handover: Vec<String>,
        /// Keep currencies, people and registries in PostgreSQL (a libpq address,
        /// several hosts allowed: postgres://u@db1,db2/maeul) instead of DATA_DIR.
        /// Several nodes may share one: each currency is written by one node, the
        /// others wait as hot standbys and take over in seconds (docs/deploy.md).
        #[arg(long)]
        store: Option<String>,
        /// This node's name in the writer leases (default: host name and port).
        #[arg(long)]
        node_name: Option<String>,
        /// Where the other nodes reach this one, for the writes they forward to it
        /// (with --store; default: http:// and the address it listens on).
        #[arg(long)]
        advertise: Option<String>,
        /// When the daily settlement pays every merchant's balance out to their bank,
        /// as HH:MM in KST, or `off` (merchants redeem by hand). A node started after
        /// the time runs that day's settlement at once.
        #[arg(long, default_value = "23:30", value_parser = parse_time_of_day)]
        settlement_cutoff: TimeOfDay,
        /// Threads answering HTTP (default: one per core). Each currency's sequencer
        /// and journal writer have threads of their own besides.
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        http_threads: Option<usize>,
    },
    /// Re-executes every journaled command with this version of maeul and checks the
    /// hash chain, every outcome and the state hashes. Exits non-zero on any difference.
    Verify {
        /// The data directory (or give --store).
        #[arg(required_unless_present = "store")]
        data_dir: Option<PathBuf>,
        /// Only this currency.
        #[arg(long)]
        currency: Option<String>,
        /// Verify the journals in this PostgreSQL database (a libpq address) instead:
        /// read only, beside nodes that serve.
        #[arg(long, conflicts_with = "data_dir")]
        store: Option<String>,
    },
    /// The operator report of a currency, from its journal: issuance, sales, subsidy
    /// spent and left, payments, redemptions, refunds and expiries by month, and what is
    /// outstanding now by source.
    Report {
        data_dir: PathBuf,
        /// Only this currency.
        #[arg(long)]
        currency: Option<String>,
        /// Also print every day.
        #[arg(long)]
        daily: bool,
    },
    /// Drives a running server over HTTP (sign-ups, charges, then payments and balance
    /// reads) and prints throughput, p50/p99/p999 per operation and errors by code.
    Loadgen {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The simulated bank the server uses (to open the citizens' accounts).
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        bank_url: String,
        #[arg(long, default_value = "demo")]
        currency: String,
        #[arg(long, default_value_t = 300)]
        citizens: usize,
        /// Merchant account ids to pay (default: the demo's 100 merchants).
        #[arg(long, value_delimiter = ',')]
        merchants: Vec<u64>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Offered requests per second (default: closed loop).
        #[arg(long)]
        rate: Option<u64>,
        /// Clients in the closed loop, or the most requests in flight at a fixed rate.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Percent of payments to one very busy merchant.
        #[arg(long, default_value_t = 20)]
        hot_percent: u8,
        /// One request in this many is a sign-in (a password hash: tens of ms of CPU);
        /// 0 for none.
        #[arg(long, default_value_t = 2_000)]
        sign_in_every: u64,
        /// Percent of requests that are 10,000-won charges through the bank (≤ 20).
        #[arg(long, default_value_t = 1)]
        charge_percent: u8,
        /// Play a hard day instead of the steady mix: first-of-month (charges),
        /// launch (sign-ups and sign-ins) or market-day (browsing, a busy merchant).
        /// Clients follow Retry-After and waiting-room tickets as apps do.
        #[arg(long)]
        scenario: Option<maeul::scenario::Scenario>,
        /// Threads sending requests (default: one for the closed loop, which leaves
        /// the other cores to a server on the same machine; one per core for --rate
        /// and --scenario, which may hold thousands of requests in flight).
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        threads: Option<usize>,
        /// The scenario's surge in multiples of the capacity measured for it.
        #[arg(long, default_value_t = 10)]
        times: u32,
        /// Scenario clients alive at once at most (arrivals beyond are not sent).
        #[arg(long, default_value_t = 50_000)]
        clients_max: usize,
        /// Seconds a scenario waits, after its arrivals stop, for clients still waiting.
        #[arg(long, default_value_t = 60)]
        drain: u64,
        /// A scenario writes one CSV line per client here: class, arrival, answer, first
        /// wait told, wait, requests, "no place" answers, the last request's time.
        #[arg(long)]
        journeys_csv: Option<PathBuf>,
    },
    /// Writes a currency as an interchange set for a successor operator: the journal up
    /// to now, the ledger's files, the registry with old QR payloads, notices, and
    /// people's data encrypted to the successor's key (docs/interchange.md). Reads
    /// only; works while `maeul serve` runs.
    Export {
        data_dir: PathBuf,
        /// A new directory for the set.
        out: PathBuf,
        /// The currency (default: the only one).
        #[arg(long)]
        currency: Option<String>,
        /// The successor's public key (age1…, from `maeul migrate keygen`), or a file
        /// holding it.
        #[arg(long)]
        to: String,
    },
    /// Checks an interchange set (sizes, SHA-256, the journal replayed with every
    /// outcome and hash, the files against the journal, the control totals) and puts
    /// its currency into a data directory. Rerun after a kill: same result.
    Import {
        set: PathBuf,
        data_dir: PathBuf,
        /// The successor's secret key file (`maeul migrate keygen`).
        #[arg(long)]
        identity: PathBuf,
    },
    /// Operator change: keys for an interchange set.
    Migrate {
        #[command(subcommand)]
        migrate: MigrateCmd,
    },
    /// Operator verbs that need no running server.
    Admin {
        #[command(subcommand)]
        admin: AdminCmd,
    },
    /// Scheme files: check one and print what it says.
    Scheme {
        #[command(subcommand)]
        scheme: SchemeCmd,
    },
    /// Runs the benchmarks and prints their figures (Markdown).
    Bench {
        /// Which: apply, durable, restart, baseline (default: all), migrate (an
        /// operator change at a town's scale: export, import, verify; run alone), or
        /// legacy (another vendor's dumps imported and verified; run alone).
        which: Vec<String>,
        /// migrate: citizens (each a signed-up user).
        #[arg(long, default_value_t = 1_000_000)]
        citizens: u64,
        /// migrate: merchants (registry records and ledger accounts).
        #[arg(long, default_value_t = 100_000)]
        merchants: u64,
        /// migrate: payments of journaled history.
        #[arg(long, default_value_t = 20_000_000)]
        history: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 10_000_000)]
        restart_transfers: u64,
        #[arg(long, default_value = "./bench-data")]
        dir: PathBuf,
        #[arg(long, default_value = bench::baseline::PG_DEFAULT_CONN)]
        pg: String,
    },
    /// Fault drills for tests.
    #[command(hide = true)]
    Drill {
        #[command(subcommand)]
        drill: Drill,
    },
}

#[derive(Subcommand, Debug)]
enum MigrateCmd {
    /// Makes the successor's key pair: writes the secret key file and prints the
    /// public key to give the old operator.
    Keygen { out: PathBuf },
    /// Imports another vendor's CSV dumps (UTF-8 or CP949) into a currency of DATA_DIR
    /// through a mapping file (docs/legacy-import.md): every row imported or reported
    /// (line, field, reason in Korean and English), value journaled with its provenance,
    /// old QR codes as aliases, the old operator's control totals compared. A later dump
    /// of the same system imports as a delta; a killed run is rerun to the same result.
    /// The currency stays halted until `go-live`.
    Import {
        data_dir: PathBuf,
        #[arg(long)]
        currency: String,
        /// The folder with the dump files the mapping names.
        #[arg(long)]
        dumps: PathBuf,
        /// Default: mapping.toml in the dumps' folder.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// The old operator's control totals (TOML). Default: totals.toml in the dumps'
        /// folder.
        #[arg(long)]
        totals: Option<PathBuf>,
        /// Every reported row (CSV, UTF-8 with BOM). Default: import-report.csv in the
        /// dumps' folder.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Accepts one control-total difference of the last legacy import (journaled).
    SignOff {
        data_dir: PathBuf,
        #[arg(long)]
        currency: String,
        /// members, merchants, unpaid_to_merchants, outstanding.purchased,
        /// outstanding.allowance or outstanding.cashback.
        #[arg(long)]
        total: String,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        reason: String,
    },
    /// Takes a legacy-imported currency live: refused while a difference is not signed
    /// off; journals the resume.
    GoLive {
        data_dir: PathBuf,
        #[arg(long)]
        currency: String,
        #[arg(long)]
        operator: String,
    },
    /// Writes a synthetic legacy dump (CP949, CRLF, quoted fields, the old vendor's
    /// words) with its mapping and control totals, to rehearse an import with.
    LegacyDump {
        out: PathBuf,
        #[arg(long, default_value_t = 1_000)]
        members: usize,
        #[arg(long, default_value_t = 100)]
        merchants: usize,
        /// Add a row breaking each rule the import checks.
        #[arg(long)]
        defects: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 0: the first dump; 1, 2, ...: the same system days later.
        #[arg(long, default_value_t = 0)]
        day: u32,
        /// Won added to the stated purchased value (a control total that differs).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        skew: i64,
    },
    /// Follows another maeul's journal into DATA_DIR with the successor credential its
    /// operator issued: every record checked against the chain and replayed before it
    /// is written; shows how far behind it is. Resumes where it stopped. Ends at
    /// Ctrl-C, after --seconds, or when the old node has moved.
    Follow {
        data_dir: PathBuf,
        /// The old node's address.
        #[arg(long)]
        from: String,
        #[arg(long)]
        currency: String,
        /// A file holding the successor credential.
        #[arg(long)]
        credential: PathBuf,
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Runs the whole plan on a copy of DATA_DIR on this machine (a node on the copy
    /// with the simulated bank, a credential, follow, cutover, the new node's start),
    /// prints each step's time and the expected write pause, and verifies both
    /// journals. The original is only read.
    Rehearse {
        data_dir: PathBuf,
        #[arg(long)]
        currency: String,
        /// A new directory to work in.
        #[arg(long, default_value = "./rehearsal")]
        work: PathBuf,
        /// Keep the work directory.
        #[arg(long)]
        keep: bool,
    },
    /// The switch: catches up, has the old node stop writing (a journaled halt, a
    /// notice, and from then on a redirect to --to), takes its last records, checks
    /// the head and state hashes, imports people, registry and notices, journals the
    /// resume, and with --listen serves at once.
    Cutover {
        data_dir: PathBuf,
        #[arg(long)]
        from: String,
        #[arg(long)]
        currency: String,
        #[arg(long)]
        credential: PathBuf,
        /// The successor's secret key file (`maeul migrate keygen`).
        #[arg(long)]
        identity: PathBuf,
        /// This node's public address, where the old node sends everyone.
        #[arg(long)]
        to: String,
        /// Serve here right after the cutover (as `maeul serve --listen`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[arg(long, default_value = "127.0.0.1:7070")]
        bank_listen: std::net::SocketAddr,
        #[arg(long)]
        bank_url: Option<String>,
        /// Stop serving after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// The daily settlement's time once serving, as for `maeul serve`.
        #[arg(long, default_value = "23:30", value_parser = parse_time_of_day)]
        settlement_cutoff: TimeOfDay,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCmd {
    /// Creates a currency with its standard accounts (1 reserve, 2 discount budget,
    /// 3 clearing, 4 cash-back budget), funds both budgets and sets its scheme.
    CreateCurrency {
        data_dir: PathBuf,
        code: String,
        #[arg(long)]
        scheme: PathBuf,
        /// Won deposited into each budget.
        #[arg(long, default_value_t = 0)]
        budget_funding: i64,
    },
    /// Loads a scheme file as the currency's next version, in force from now.
    LoadScheme {
        data_dir: PathBuf,
        code: String,
        file: PathBuf,
    },
    /// Adds an operator or auditor; the password is read from MAEUL_PASSWORD or stdin.
    AddStaff {
        data_dir: PathBuf,
        #[arg(long)]
        login: String,
        /// operator or auditor
        #[arg(long)]
        role: String,
        /// Currencies they act on (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        currencies: Vec<String>,
    },
    /// Syncs a merchant registry file (CSV, UTF-8 or CP949) into a currency's directory
    /// while the server is stopped (any size; the API takes up to 64 MB). Prints the
    /// diff and the rows to read first (`--report FILE` writes every row); the file's
    /// previous-operator QR column becomes aliases in the same run; the ledger follows
    /// at the next start.
    SyncRegistry {
        data_dir: PathBuf,
        code: String,
        file: PathBuf,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
        /// How merchants the file adds start: `approved` (as the file says: 영업 →
        /// approved, 휴업 → suspended) or `applied` (all awaiting an operator's review).
        #[arg(long, default_value = "approved", value_parser = ["approved", "applied"])]
        new_status: String,
        /// `accept`: rows whose 사업자등록번호 fails its check digit are imported as
        /// written, unverified and awaiting review; `reject`: they are rejected.
        #[arg(long, default_value = "reject", value_parser = ["accept", "reject"])]
        unverified_brn: String,
        /// Write every row's outcome to this CSV file (UTF-8 with BOM, opens in Excel):
        /// line, brn, outcome, code, message_ko, message_en, merchant_id.
        #[arg(long)]
        report: Option<PathBuf>,
        /// The operator's revenue labels (CSV `label,min_won,max_won`, both inclusive
        /// won): stored for this and every later sync (with --dry-run: this run only).
        #[arg(long)]
        revenue_bands: Option<PathBuf>,
    },
    /// Imports a previous operator's QR codes (CSV `payload,merchant_id[,note]`) while
    /// the server is stopped.
    ImportAliases {
        data_dir: PathBuf,
        code: String,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SchemeCmd {
    /// Reads and validates a scheme file; exits non-zero with the field at fault.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum Drill {
    /// Writes under concurrent load until killed, printing each acknowledged command.
    CrashLoad {
        data_dir: PathBuf,
        #[arg(long)]
        run: u64,
        #[arg(long, default_value_t = 4)]
        clients: u64,
    },
    /// One node of a currency on PostgreSQL: a hot standby until it takes the writer
    /// lease, then pays what standard input asks (see `maeul::pg_drill`).
    PgNode {
        #[arg(long)]
        store: String,
        #[arg(long, default_value = "drill")]
        currency: String,
        #[arg(long)]
        holder: String,
        #[arg(long, default_value_t = 1_500)]
        ttl_ms: u64,
    },
}

const THIRTY_DAYS_US: u64 = 30 * 86_400 * 1_000_000;

fn main() -> ExitCode {
    // First, while this is the only thread (mimalloc's options are not thread-safe).
    let kept = allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let allocator::Kept::UnknownOption { value } = kept {
        tracing::warn!(
            option_value = value,
            "mimalloc's purge delay was not recognised; freed memory goes back to the kernel, \
             which slows the sequencer under load"
        );
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve {
            data_dir,
            listen,
            bank_listen,
            bank_url,
            demo_rate,
            seconds,
            scheme,
            sign_ins_per_address,
            connections_per_address,
            places,
            class_caps,
            class_reserves,
            map_tiles,
            map_tiles_attribution,
            resume_handover,
            store,
            node_name,
            advertise,
            settlement_cutoff,
            http_threads,
        } => (|| {
            let scheme = scheme.as_deref().map(read_scheme).transpose()?;
            let mut admission = server::gate::Policy {
                places: places.max(1),
                ..server::gate::Policy::default()
            };
            for cap in &class_caps {
                admission.set_cap(cap).map_err(anyhow::Error::msg)?;
            }
            for reserve in &class_reserves {
                admission.set_reserve(reserve).map_err(anyhow::Error::msg)?;
            }
            let map_tiles = map_tiles
                .map(|t| web::map_tiles::MapTiles::new(&t, &map_tiles_attribution))
                .transpose()?;
            maeul::serve::run(maeul::serve::ServeOptions {
                data_dir,
                listen,
                bank_listen,
                bank_url,
                demo_rate,
                limit: seconds.map(Duration::from_secs),
                scheme,
                sign_ins_per_address,
                connections_per_address,
                admission,
                pages: web::PageSettings { map_tiles },
                resume_handover,
                paused_since: None,
                store,
                node_name: node_name.unwrap_or_else(|| default_node_name(listen)),
                advertise,
                settlement_cutoff: settlement_cutoff.0,
                http_threads,
            })
        })(),
        Cmd::Verify {
            data_dir,
            currency,
            store,
        } => return verify(data_dir.as_deref(), store.as_deref(), currency.as_deref()),
        Cmd::Report {
            data_dir,
            currency,
            daily,
        } => report(&data_dir, currency.as_deref(), daily),
        Cmd::Scheme {
            scheme: SchemeCmd::Check { file },
        } => scheme_check(&file),
        Cmd::Export {
            data_dir,
            out,
            currency,
            to,
        } => maeul::migration::export(&data_dir, &out, currency.as_deref(), &to),
        Cmd::Import {
            set,
            data_dir,
            identity,
        } => maeul::migration::import(&set, &data_dir, &identity),
        Cmd::Migrate {
            migrate: MigrateCmd::Keygen { out },
        } => maeul::migration::keygen(&out),
        Cmd::Migrate {
            migrate:
                MigrateCmd::Import {
                    data_dir,
                    currency,
                    mapping,
                    totals,
                    report,
                    dumps,
                },
        } => maeul::legacy::import(&maeul::legacy::ImportArgs {
            data_dir,
            currency,
            mapping: mapping.unwrap_or_else(|| dumps.join("mapping.toml")),
            totals: totals.unwrap_or_else(|| dumps.join("totals.toml")),
            dumps,
            report,
        })
        .map(|_| ()),
        Cmd::Migrate {
            migrate:
                MigrateCmd::SignOff {
                    data_dir,
                    currency,
                    total,
                    operator,
                    reason,
                },
        } => maeul::legacy::sign_off(&data_dir, &currency, &total, &operator, &reason),
        Cmd::Migrate {
            migrate:
                MigrateCmd::GoLive {
                    data_dir,
                    currency,
                    operator,
                },
        } => maeul::legacy::go_live(&data_dir, &currency, &operator),
        Cmd::Migrate {
            migrate:
                MigrateCmd::LegacyDump {
                    out,
                    members,
                    merchants,
                    defects,
                    seed,
                    day,
                    skew,
                },
        } => maeul::legacy::write_synthetic(
            &out,
            &migrate::legacy::synth::SynthOptions {
                members,
                merchants,
                defects,
                seed,
                day,
                // Dates are written relative to a 30-day period, so dumps of the same
                // system written days apart agree on every unchanged row.
                now_us: service::now_us() / THIRTY_DAYS_US * THIRTY_DAYS_US,
            },
            skew,
        ),
        Cmd::Migrate {
            migrate:
                MigrateCmd::Rehearse {
                    data_dir,
                    currency,
                    work,
                    keep,
                },
        } => maeul::migration::rehearse(&data_dir, &currency, &work, keep),
        Cmd::Migrate {
            migrate:
                MigrateCmd::Follow {
                    data_dir,
                    from,
                    currency,
                    credential,
                    seconds,
                },
        } => maeul::migration::Source::new(&from, &currency, &credential)
            .and_then(|src| maeul::migration::follow(&data_dir, &src, seconds)),
        Cmd::Migrate {
            migrate:
                MigrateCmd::Cutover {
                    data_dir,
                    from,
                    currency,
                    credential,
                    identity,
                    to,
                    listen,
                    bank_listen,
                    bank_url,
                    seconds,
                    settlement_cutoff,
                },
        } => (|| {
            let options = maeul::migration::CutoverOptions {
                data_dir: data_dir.clone(),
                source: maeul::migration::Source::new(&from, &currency, &credential)?,
                identity,
                to,
                resume: listen.is_none(),
            };
            let serve = listen.map(|listen| maeul::serve::ServeOptions {
                data_dir,
                listen,
                bank_listen,
                bank_url,
                demo_rate: 0,
                limit: seconds.map(Duration::from_secs),
                scheme: None,
                sign_ins_per_address: service::limits::WriteLimit::PER_ADDRESS.per_second,
                connections_per_address: server::connections::CONNECTIONS_PER_ADDRESS_MAX,
                admission: server::gate::Policy::default(),
                pages: web::PageSettings::default(),
                resume_handover: vec![currency.clone()],
                paused_since: None,
                store: None,
                node_name: String::new(),
                advertise: None,
                settlement_cutoff: settlement_cutoff.0,
                http_threads: None,
            });
            maeul::migration::cutover(&options, serve)
        })(),
        Cmd::Admin { admin } => match admin {
            AdminCmd::CreateCurrency {
                data_dir,
                code,
                scheme,
                budget_funding,
            } => read_scheme(&scheme)
                .and_then(|s| maeul::admin::create_currency(&data_dir, &code, &s, budget_funding)),
            AdminCmd::LoadScheme {
                data_dir,
                code,
                file,
            } => read_scheme(&file).and_then(|s| maeul::admin::load_scheme(&data_dir, &code, &s)),
            AdminCmd::AddStaff {
                data_dir,
                login,
                role,
                currencies,
            } => (|| {
                let role = match role.as_str() {
                    "operator" => server::Role::Operator,
                    "auditor" => server::Role::Auditor,
                    other => anyhow::bail!("unknown staff role {other:?}: operator or auditor"),
                };
                let password = match std::env::var("MAEUL_PASSWORD") {
                    Ok(p) => p,
                    Err(_) => {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        line.trim_end_matches(['\n', '\r']).to_owned()
                    }
                };
                maeul::admin::add_staff(&data_dir, &login, role, currencies, password)
            })(),
            AdminCmd::SyncRegistry {
                data_dir,
                code,
                file,
                dry_run,
                new_status,
                unverified_brn,
                report,
                revenue_bands,
            } => maeul::admin::sync_registry(
                &data_dir,
                &code,
                &file,
                &maeul::admin::SyncRegistryOptions {
                    apply: !dry_run,
                    new_status: directory::NewStatus::parse(&new_status).unwrap_or_default(),
                    unverified_brn: unverified_brn == "accept",
                    report,
                    revenue_bands,
                },
            ),
            AdminCmd::ImportAliases {
                data_dir,
                code,
                file,
            } => maeul::admin::import_aliases(&data_dir, &code, &file),
        },
        Cmd::Loadgen {
            url,
            bank_url,
            currency,
            citizens,
            merchants,
            seconds,
            rate,
            concurrency,
            hot_percent,
            sign_in_every,
            charge_percent,
            threads,
            scenario,
            times,
            clients_max,
            drain,
            journeys_csv,
        } => (|| {
            let merchants = if merchants.is_empty() {
                (0..maeul::demo::BUSY_MERCHANTS)
                    .map(|i| maeul::demo::merchant(i).account().0)
                    .collect()
            } else {
                merchants
            };
            let load = maeul::loadgen::LoadOptions {
                url,
                bank_url,
                currency,
                citizens,
                merchants,
                seconds,
                rate,
                concurrency,
                hot_percent,
                sign_in_every,
                charge_percent,
                // A scenario charges all day: each citizen starts with a tenth of the
                // month's limit so that the run's charges fit in the rest.
                setup_face: if scenario.is_some() { 100_000 } else { 800_000 },
            };
            let closed_loop = scenario.is_none() && rate.is_none();
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            // Otherwise tokio's default: a thread per core.
            if let Some(threads) = threads.or(closed_loop.then_some(1)) {
                runtime.worker_threads(threads);
            }
            let runtime = runtime.enable_all().build()?;
            match scenario {
                Some(scenario) => {
                    runtime.block_on(maeul::scenario::run(maeul::scenario::ScenarioOptions {
                        load,
                        scenario,
                        times,
                        clients_max,
                        drain,
                        journeys_csv,
                    }))
                }
                None => runtime.block_on(maeul::loadgen::run(load)),
            }
        })(),
        Cmd::Bench {
            which,
            dir,
            citizens,
            merchants,
            ..
        } if which.iter().any(|w| w == "legacy") => {
            maeul::bench_legacy::run(&maeul::bench_legacy::LegacyBench {
                dir,
                citizens,
                merchants,
            })
        }
        Cmd::Bench {
            which,
            dir,
            citizens,
            merchants,
            history,
            ..
        } if which.iter().any(|w| w == "migrate") => {
            maeul::bench_migrate::run(&maeul::bench_migrate::MigrateBench {
                dir,
                citizens,
                merchants,
                history,
            })
        }
        Cmd::Bench {
            which,
            seconds,
            restart_transfers,
            dir,
            pg,
            ..
        } => {
            let options = bench::suite::SuiteOptions {
                dir: dir.clone(),
                seconds,
                restart_transfers,
                pg_conn: pg,
                which,
            };
            let r = bench::suite::run(&options);
            if std::env::var_os("MAEUL_BENCH_KEEP").is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            r
        }
        Cmd::Drill {
            drill:
                Drill::CrashLoad {
                    data_dir,
                    run,
                    clients,
                },
        } => drill::crash_load(&data_dir, run, clients),
        Cmd::Drill {
            drill:
                Drill::PgNode {
                    store,
                    currency,
                    holder,
                    ttl_ms,
                },
        } => maeul::pg_drill::pg_node(&store, &currency, &holder, Duration::from_millis(ttl_ms)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A KST time of day for a daily job, or `None` when it is `off`.
#[derive(Clone, Copy, Debug)]
struct TimeOfDay(Option<(u8, u8)>);

fn parse_time_of_day(text: &str) -> Result<TimeOfDay, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(TimeOfDay(None));
    }
    let bad = || format!("{text:?} is not a time of day as HH:MM (00:00 to 23:59) or off");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 || text.len() != 5 {
        return Err(bad());
    }
    Ok(TimeOfDay(Some((h, m))))
}

/// A node's name in the writer leases: its host and port, stable across restarts so
/// that a restarted writer takes its own lease back at once.
/// Without a host name, a random one: two nodes must never share a name, or one could
/// take the other's live lease back (a restart then waits the lease out).
fn default_node_name(listen: std::net::SocketAddr) -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty() && h != "localhost");
    match host {
        Some(host) => format!("{host}:{}", listen.port()),
        None => format!("maeul-{:016x}", rand::random::<u64>()),
    }
}

/// Each currency and where its journal is.
type Journals = Vec<(engine::CurrencyCode, std::sync::Arc<dyn engine::Storage>)>;

/// The currencies to verify and where each journal is: the data directory's, or the
/// database's (read only); and where they were looked for.
fn journals(
    data_dir: Option<&std::path::Path>,
    store: Option<&str>,
) -> anyhow::Result<(Journals, String)> {
    if let Some(url) = store {
        let db = std::sync::Arc::new(pgstore::Db::connect(url)?);
        let codes = maeul::serve_pg::currencies(&db)?;
        let at = db.describe().to_owned();
        let journals = codes
            .into_iter()
            .map(|code| {
                let storage: std::sync::Arc<dyn engine::Storage> = std::sync::Arc::new(
                    pgstore::PgStorage::reader(std::sync::Arc::clone(&db), code.as_str()),
                );
                (code, storage)
            })
            .collect();
        return Ok((journals, at));
    }
    let data_dir = data_dir.context("a data directory or --store is needed")?;
    let journals = data_dir::currencies(data_dir)?
        .into_iter()
        .map(|code| {
            let storage = data_dir::storage(data_dir, &code);
            (code, storage)
        })
        .collect();
    Ok((journals, data_dir.join("currencies").display().to_string()))
}

fn verify(data_dir: Option<&std::path::Path>, store: Option<&str>, only: Option<&str>) -> ExitCode {
    let (currencies, at) = match journals(data_dir, store) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let currencies: Vec<_> = currencies
        .into_iter()
        .filter(|(c, _)| only.is_none_or(|o| c.as_str() == o))
        .collect();
    if currencies.is_empty() {
        eprintln!("error: no currency found in {at}");
        return ExitCode::from(2);
    }
    // Currencies are independent: verify them in parallel, each on its own core, with a
    // progress line per currency on a terminal.
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:>12} {spinner} record {pos} ({per_sec}) {elapsed}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let rules = ledger::Rules::this_build();
    let reports: Vec<(engine::VerifyReport, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = currencies
            .iter()
            .map(|(code, storage)| {
                let bar = bars.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(code.to_string());
                let rules = &rules;
                scope.spawn(move || {
                    let started = Instant::now();
                    let tick_bar = bar.clone();
                    let progress: engine::ProgressSink = std::sync::Arc::new(move |p| {
                        tick_bar.set_position(p.seq);
                    });
                    let report = engine::verify_with(storage.as_ref(), rules, Some(&progress));
                    bar.finish_and_clear();
                    (report, started.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut all_ok = reports.len() == currencies.len();
    for (report, seconds) in reports {
        println!("{report}  ({seconds:.2} s)\n");
        all_ok &= report.ok();
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn read_scheme(file: &std::path::Path) -> anyhow::Result<SchemeConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the scheme file {}", file.display()))?;
    SchemeConfig::from_toml(&text).with_context(|| format!("scheme file {}", file.display()))
}

/// `maeul scheme check`: the check the console's editor runs too
/// (`service::operator::scheme::check_scheme`): every problem with its line, or what a
/// valid file sets.
fn scheme_check(file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the scheme file {}", file.display()))?;
    let check = service::operator::scheme::check_scheme(&text);
    if !check.valid() {
        for p in &check.problems {
            match p.line {
                Some(line) => eprintln!("{}:{line}: {}: {}", file.display(), p.field, p.problem),
                None => eprintln!("{}: {}: {}", file.display(), p.field, p.problem),
            }
        }
        anyhow::bail!(
            "scheme file {}: {} problem(s)",
            file.display(),
            check.problems.len()
        );
    }
    println!("{}: valid", file.display());
    for l in &check.summary {
        println!("  {:<21} {}", l.label, l.value);
    }
    Ok(())
}

fn report(data_dir: &std::path::Path, only: Option<&str>, daily: bool) -> anyhow::Result<()> {
    let currencies: Vec<_> = data_dir::currencies(data_dir)?
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.as_str() == o))
        .collect();
    anyhow::ensure!(
        !currencies.is_empty(),
        "no currency found under {}",
        data_dir.join("currencies").display()
    );
    for code in currencies {
        let storage = data_dir::storage(data_dir, &code);
        // The holdings come from a replay of the journal: the report needs no running
        // server and checks the journal as it goes.
        let mut replayer = engine::Replayer::from_genesis(&ledger::Rules::this_build());
        let mut failure = None;
        storage.read_records(1, None, &mut |rec| match replayer.apply(&rec) {
            Ok(_) => std::ops::ControlFlow::Continue(()),
            Err(d) => {
                failure = Some(d.to_string());
                std::ops::ControlFlow::Break(())
            }
        })?;
        if let Some(f) = failure {
            anyhow::bail!("currency {code}: the journal does not replay: {f}");
        }
        let ledger = replayer
            .ledger()
            .with_context(|| format!("currency {code}: no genesis record"))?;
        let report = treasury::OperatorReport::from_ledger(storage.as_ref(), ledger)?;
        println!("{report}");
        if daily {
            for d in &report.days {
                println!("  {d:?}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_of_day_is_hh_mm_or_off() {
        assert_eq!(parse_time_of_day("23:30").unwrap().0, Some((23, 30)));
        assert_eq!(parse_time_of_day("00:05").unwrap().0, Some((0, 5)));
        assert_eq!(parse_time_of_day("OFF").unwrap().0, None);
        for bad in [
            "24:00", "12:60", "7:30", "12:3", "noon", "", "12:30:00", "-1:30",
        ] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }
}
