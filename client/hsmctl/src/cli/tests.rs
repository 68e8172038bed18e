//! Argument parsing tests: defaults, global flags anywhere, and usage errors.

use clap::CommandFactory;
use clap::error::ErrorKind;

use super::*;

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("hsmctl").chain(args.iter().copied())).unwrap()
}

fn parse_error(args: &[&str]) -> ErrorKind {
    Cli::try_parse_from(std::iter::once("hsmctl").chain(args.iter().copied()))
        .unwrap_err()
        .kind()
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn config_defaults_to_the_dev_cluster_and_output_to_text() {
    let cli = parse(&["cluster", "status"]);
    if std::env::var_os("KEYHOLD_CONFIG").is_none() {
        assert_eq!(cli.config, PathBuf::from("keyhold-dev/client.toml"));
    }
    assert_eq!(cli.output, OutputFormat::Text);
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Status)
    ));
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let cli = parse(&[
        "key",
        "list",
        "--output",
        "json",
        "--config",
        "/tmp/c.toml",
        "--all",
    ]);
    assert_eq!(cli.output, OutputFormat::Json);
    assert_eq!(cli.config, PathBuf::from("/tmp/c.toml"));
    let Command::Key(KeyCommand::List {
        all,
        label,
        page_size,
        page_token,
    }) = cli.command
    else {
        panic!("not key list");
    };
    assert!(all);
    assert_eq!((label, page_size, page_token), (None, None, None));
}

#[test]
fn pki_init_defaults_to_three_nodes_and_the_hsmctl_client() {
    let cli = parse(&[
        "pki", "init", "--dir", "pki", "--san", "a.test", "--san", "10.1.2.3",
    ]);
    let Command::Pki(PkiCommand::Init {
        dir,
        nodes,
        sans,
        client_name,
        force,
    }) = cli.command
    else {
        panic!("not pki init");
    };
    assert_eq!(dir, PathBuf::from("pki"));
    assert_eq!(nodes, 3);
    assert_eq!(sans, vec!["a.test".to_string(), "10.1.2.3".to_string()]);
    assert_eq!(client_name, "hsmctl");
    assert!(!force);
}

#[test]
fn pki_init_rejects_zero_nodes_and_a_missing_dir() {
    assert_eq!(
        parse_error(&["pki", "init", "--dir", "x", "--nodes", "0"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_error(&["pki", "init"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn key_generate_checks_the_algorithm_and_defaults_usage_to_sign() {
    let cli = parse(&[
        "key",
        "generate",
        "--algorithm",
        "rsa-2048",
        "--label",
        "www",
    ]);
    let Command::Key(KeyCommand::Generate {
        algorithm,
        label,
        usage,
    }) = cli.command
    else {
        panic!("not key generate");
    };
    assert_eq!(
        (algorithm.as_str(), label.as_str(), usage),
        ("rsa-2048", "www", Usage::Sign)
    );

    let bad = ["key", "generate", "--algorithm", "dsa-1024", "--label", "x"];
    assert_eq!(parse_error(&bad), ErrorKind::InvalidValue);
    let decrypt = parse(&[
        "key",
        "generate",
        "--algorithm",
        "rsa-3072",
        "--label",
        "x",
        "--usage",
        "decrypt",
    ]);
    let Command::Key(KeyCommand::Generate { usage, .. }) = decrypt.command else {
        panic!("not key generate");
    };
    assert_eq!(usage.as_str(), "decrypt");
}

#[test]
fn sign_takes_key_scheme_files_and_the_digest_switch() {
    let cli = parse(&[
        "sign",
        "--key",
        "k-1",
        "--scheme",
        "ecdsa-sha256",
        "--in",
        "d.bin",
        "--out",
        "s.der",
        "--digest",
    ]);
    let Command::Sign(args) = cli.command else {
        panic!("not sign")
    };
    assert_eq!(args.key_id, "k-1");
    assert_eq!(args.scheme, "ecdsa-sha256");
    assert_eq!(args.input, PathBuf::from("d.bin"));
    assert_eq!(args.out, PathBuf::from("s.der"));
    assert!(args.digest);
    let no_out = ["sign", "--key", "k", "--scheme", "ed25519", "--in", "m"];
    assert_eq!(parse_error(&no_out), ErrorKind::MissingRequiredArgument);
}

#[test]
fn decrypt_accepts_only_rsa_schemes() {
    let ok = parse(&[
        "decrypt",
        "--key",
        "k",
        "--scheme",
        "rsa-oaep-sha256",
        "--in",
        "c",
        "--out",
        "p",
    ]);
    assert!(matches!(ok.command, Command::Decrypt(_)));
    let bad = [
        "decrypt",
        "--key",
        "k",
        "--scheme",
        "ecdsa-sha256",
        "--in",
        "c",
        "--out",
        "p",
    ];
    assert_eq!(parse_error(&bad), ErrorKind::InvalidValue);
}

#[test]
fn dev_up_defaults_to_keyhold_dev_on_port_7100() {
    let cli = parse(&["dev", "up"]);
    let Command::Dev(DevCommand::Up {
        dir,
        base_port,
        hsmd,
        wait_secs,
    }) = cli.command
    else {
        panic!("not dev up");
    };
    assert_eq!(dir, PathBuf::from("keyhold-dev"));
    assert_eq!((base_port, hsmd, wait_secs), (7100, None, 60));
    let free = parse(&[
        "dev",
        "up",
        "--dir",
        "/tmp/d",
        "--base-port",
        "0",
        "--hsmd",
        "/bin/h",
    ]);
    let Command::Dev(DevCommand::Up {
        base_port, hsmd, ..
    }) = free.command
    else {
        panic!("not dev up");
    };
    assert_eq!((base_port, hsmd), (0, Some(PathBuf::from("/bin/h"))));
}

#[test]
fn list_page_token_conflicts_with_all() {
    let args = ["key", "list", "--all", "--page-token", "t"];
    assert_eq!(parse_error(&args), ErrorKind::ArgumentConflict);
}

#[test]
fn key_csr_takes_names_and_needs_a_cn_or_a_san() {
    let cli = parse(&[
        "key",
        "csr",
        "k-1",
        "--san",
        "a.example",
        "--san",
        "10.0.0.1",
    ]);
    let Command::Key(KeyCommand::Csr { id, subject, out }) = cli.command else {
        panic!("not key csr");
    };
    assert_eq!(id, "k-1");
    assert_eq!(subject.sans, ["a.example", "10.0.0.1"]);
    assert_eq!((subject.common_name, out), (None, None));

    let missing = parse_error(&["key", "csr", "k-1"]);
    assert_eq!(missing, ErrorKind::MissingRequiredArgument);
}

#[test]
fn key_self_sign_defaults_to_ninety_days_and_refuses_zero() {
    let cli = parse(&["key", "self-sign", "k-1", "--cn", "svc.internal"]);
    let Command::Key(KeyCommand::SelfSign { days, subject, .. }) = cli.command else {
        panic!("not key self-sign");
    };
    assert_eq!(days, 90);
    assert_eq!(subject.common_name.as_deref(), Some("svc.internal"));

    let zero = parse_error(&["key", "self-sign", "k-1", "--cn", "a", "--days", "0"]);
    assert_eq!(zero, ErrorKind::ValueValidation);
}

#[test]
fn pki_issue_defaults_to_a_server_certificate_without_the_chain() {
    let cli = parse(&["pki", "issue", "--dir", "pki", "--csr", "www.csr"]);
    let Command::Pki(PkiCommand::Issue {
        days,
        client_auth,
        chain,
        out,
        ..
    }) = cli.command
    else {
        panic!("not pki issue");
    };
    assert_eq!(days, keyhold_client::certs::DEFAULT_VALIDITY_DAYS);
    assert_eq!((client_auth, chain, out), (false, false, None));
}

#[test]
fn audit_show_needs_a_node_and_defaults_to_the_first_seq() {
    let cli = parse(&["audit", "show", "--node", "2", "--config", "/tmp/c.toml"]);
    let Command::Audit(AuditCommand::Show {
        node,
        from,
        limit,
        json,
    }) = cli.command
    else {
        panic!("not audit show");
    };
    assert_eq!((node, from, limit, json), (2, 1, None, false));
    assert_eq!(cli.config, PathBuf::from("/tmp/c.toml"));

    let cli = parse(&[
        "audit", "show", "--node", "3", "--from", "40", "--limit", "1000", "--json",
    ]);
    let Command::Audit(AuditCommand::Show {
        from, limit, json, ..
    }) = cli.command
    else {
        panic!("not audit show");
    };
    assert_eq!((from, limit, json), (40, Some(1000), true));
    assert_eq!(
        parse_error(&["audit", "show"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn audit_show_refuses_a_limit_above_a_page_and_seq_zero() {
    let too_many = ["audit", "show", "--node", "1", "--limit", "1001"];
    assert_eq!(parse_error(&too_many), ErrorKind::ValueValidation);
    let zero = ["audit", "show", "--node", "1", "--from", "0"];
    assert_eq!(parse_error(&zero), ErrorKind::ValueValidation);
}

#[test]
fn audit_verify_takes_an_anchor_for_one_node_only() {
    let hash = "ab".repeat(32);
    let anchor = format!("12:{hash}");
    let cli = parse(&["audit", "verify", "--node", "2", "--expect", &anchor]);
    let Command::Audit(AuditCommand::Verify { expect, .. }) = cli.command else {
        panic!("not audit verify");
    };
    let expect = expect.unwrap();
    assert_eq!((expect.seq, expect.hash), (12, vec![0xab; 32]));

    assert_eq!(
        parse_error(&["audit", "verify", "--all", "--expect", &anchor]),
        ErrorKind::ArgumentConflict
    );
    for bad in ["12", "0:ab", "x:ab", "12:zz", "12:abab"] {
        assert_eq!(
            parse_error(&["audit", "verify", "--node", "2", "--expect", bad]),
            ErrorKind::ValueValidation,
            "{bad}"
        );
    }
}

#[test]
fn audit_verify_takes_one_node_or_all_but_not_both() {
    let cli = parse(&["audit", "verify", "--node", "2"]);
    let Command::Audit(AuditCommand::Verify { node, all, .. }) = cli.command else {
        panic!("not audit verify");
    };
    assert_eq!((node, all), (Some(2), false));

    let cli = parse(&["audit", "verify", "--all"]);
    let Command::Audit(AuditCommand::Verify { node, all, .. }) = cli.command else {
        panic!("not audit verify");
    };
    assert_eq!((node, all), (None, true));

    assert_eq!(
        parse_error(&["audit", "verify"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        parse_error(&["audit", "verify", "--node", "1", "--all"]),
        ErrorKind::ArgumentConflict
    );
}
