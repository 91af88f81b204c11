//! The real `kms` binary, driven as a user would, against a vault in a temporary KMS_HOME.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::io::Write;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        home.ok(&["init"]);
        home
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms"));
        cmd.args(args)
            .env("KMS_HOME", self.path("home"))
            .env_remove("KMS_VAULT")
            .env_remove("KMS_STORE")
            .env_remove("KMS_ROOT_KEY_FILE")
            .env_remove("KMS_ROOT_KEY")
            .current_dir(self.dir.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed and returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kms {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail with status 1 and the given AWS exception.
    fn fails_with(&self, args: &[&str], exception: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "kms {args:?}: {stderr}");
        assert!(stderr.contains(exception), "kms {args:?}: {stderr}");
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    fn create_key(&self) -> String {
        self.json(&["create-key"])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn encrypt(&self, key: &str, plaintext: &[u8], context: &str) -> PathBuf {
        let file = self.path(&format!("ct-{}", rand_name()));
        let out = self.run_with_stdin(&["encrypt", key, "--context", context], plaintext);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&file, out.stdout).unwrap();
        file
    }

    fn state(&self, key: &str) -> String {
        self.json(&["describe-key", key])["KeyMetadata"]["KeyState"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_creates_an_owner_only_root_key_and_refuses_to_run_twice() {
    let home = Home::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path("home/root.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    home.fails_with(&["init"], "AlreadyExistsException");
}

#[test]
fn commands_before_init_explain_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["list-keys"])
        .env("KMS_HOME", dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kms init"));
}

#[test]
fn create_key_then_describe_key_shows_an_enabled_key() {
    let home = Home::new();
    let key = home.create_key();
    assert_eq!(home.state(&key), "Enabled");
    let text = home.ok(&["describe-key", &key]);
    assert!(text.contains("KeyState: Enabled"), "{text}");
}

#[test]
fn region_picks_the_namespace_and_multi_region_keys_replicate_across() {
    let home = Home::new();
    let west = home.json(&["create-key", "--region", "eu-west-1"])["KeyMetadata"].clone();
    assert!(
        west["Arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:eu-west-1:"),
        "{west}"
    );
    let key = west["KeyId"].as_str().unwrap();
    home.fails_with(&["describe-key", key], "NotFoundException");
    home.ok(&["describe-key", key, "--region", "eu-west-1"]);
    let out = home
        .command(&["describe-key", key])
        .env("KMS_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mrk = home.json(&["create-key", "--multi-region"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(mrk.starts_with("mrk-"), "{mrk}");
    let replica = home.json(&["replicate-key", &mrk, "--replica-region", "ap-south-1"]);
    assert_eq!(
        replica["ReplicaKeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    let sealed = home.encrypt(&mrk, b"anywhere", "app=x");
    let opened = home.ok(&[
        "decrypt",
        "--ciphertext-file",
        s(&sealed),
        "--context",
        "app=x",
        "--region",
        "ap-south-1",
    ]);
    assert_eq!(opened, "anywhere");
    home.ok(&[
        "update-primary-region",
        &mrk,
        "--primary-region",
        "ap-south-1",
    ]);
    let config = &home.json(&["describe-key", &mrk])["KeyMetadata"]["MultiRegionConfiguration"];
    assert_eq!(config["MultiRegionKeyType"], "REPLICA", "{config}");
    home.fails_with(&["create-key", "--region", "Mars"], "ValidationException");
}

#[test]
fn get_key_last_usage_shows_the_use_of_an_earlier_command() {
    let home = Home::new();
    let key = home.create_key();
    let unused = home.json(&["get-key-last-usage", &key]);
    assert_eq!(unused["KeyLastUsage"], serde_json::json!({}), "{unused}");
    home.encrypt(&key, b"x", "tenant=acme");
    // Each command is its own process: the use reached the vault when the first one ended.
    let used = home.json(&["get-key-last-usage", &key]);
    assert_eq!(used["KeyLastUsage"]["Operation"], "Encrypt", "{used}");
    assert_eq!(used["KeyId"], key.as_str());
}

#[test]
fn empty_encryption_context_values_and_alias_aws_names_are_refused_as_aws_refuses_them() {
    let home = Home::new();
    let key = home.create_key();
    home.fails_with(
        &["encrypt", &key, "--context", "tenant="],
        "ValidationException",
    );
    home.fails_with(
        &["create-alias", "alias/aws/s3", &key],
        "NotAuthorizedException",
    );
}

#[test]
fn encrypt_through_an_alias_and_decrypt_with_the_same_context() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    let ct = home.encrypt("alias/app", b"hello cli", "tenant=acme");
    let plain = home.ok(&[
        "decrypt",
        "--ciphertext-file",
        s(&ct),
        "--context",
        "tenant=acme",
    ]);
    assert_eq!(plain, "hello cli");
}

#[test]
fn an_encryption_context_is_given_as_the_aws_cli_takes_it() {
    let home = Home::new();
    let key = home.create_key();
    // The aws CLI's shorthand: two pairs, not `tenant` -> `acme,env=prod`.
    let ct = home.encrypt(&key, b"two pairs", "tenant=acme,env=prod");
    let ct = s(&ct);
    let as_json = r#"{"env":"prod","tenant":"acme"}"#;
    let plain = home.ok(&[
        "decrypt",
        "--ciphertext-file",
        ct,
        "--encryption-context",
        as_json,
    ]);
    assert_eq!(plain, "two pairs");
    // Repeated options add pairs.
    let plain = home.ok(&[
        "decrypt",
        "--ciphertext-file",
        ct,
        "--encryption-context",
        "tenant=acme",
        "--context",
        "env=prod",
    ]);
    assert_eq!(plain, "two pairs");
    home.fails_with(
        &[
            "decrypt",
            "--ciphertext-file",
            ct,
            "--context",
            "tenant=acme",
        ],
        "InvalidCiphertextException",
    );
    // A value with a comma needs the JSON form, and the error says so.
    let out = home.run(&["decrypt", "--ciphertext-file", ct, "--context", "a=1,b"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JSON"), "{stderr}");
    let out = home.run(&[
        "decrypt",
        "--ciphertext-file",
        ct,
        "--context",
        r#"{"a":1}"#,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a string"));
}

#[test]
fn acting_as_a_principal_the_vault_does_not_know_says_so() {
    let home = Home::new();
    let out = home.run(&["list-keys", "--as", "arn:aws:iam::111122223333:user/alcie"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no such principal") && stderr.contains("kms principal list"),
        "{stderr}"
    );
    // The account's root and a principal that exists are accepted.
    home.ok(&["list-keys", "--as", "arn:aws:iam::111122223333:root"]);
    home.ok(&[
        "principal",
        "create",
        "arn:aws:iam::111122223333:user/alice",
    ]);
    let out = home.run(&["list-keys", "--as", "arn:aws:iam::111122223333:user/alice"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessDeniedException"),
        "alice has no permission yet, and is told so by the policy, not by the CLI"
    );
}

#[test]
fn a_store_that_is_not_postgres_or_cannot_be_reached_is_refused_clearly() {
    let home = Home::new();
    let out = home.run(&["--store", "mysql://db/kms", "list-keys"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PostgreSQL URL") && stderr.contains("--vault"),
        "{stderr}"
    );
    let out = home.run(&[
        "--store",
        "postgres://db/kms",
        "--vault",
        "v.db",
        "list-keys",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "one vault at a time"
    );
    // Nothing listens on port 1: the error names the server, never the password.
    let out = home.run(&[
        "--store",
        "postgres://kms:hunter2@127.0.0.1:1/kms",
        "list-keys",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "Cannot connect to the PostgreSQL vault at postgres://kms:****@127.0.0.1:1/kms"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // The SQLite vault is untouched by all this.
    home.ok(&["list-keys"]);
}

/// Runs `kms` with `args` under a pseudo-terminal (util-linux `script`), as a person at a
/// terminal would; answers what the terminal showed.
fn at_a_terminal(home: &Home, args: &[&str]) -> String {
    let command = std::iter::once(env!("CARGO_BIN_EXE_kms"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KMS_HOME", home.path("home"))
        .current_dir(home.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn binary_output_never_goes_raw_to_a_terminal() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let home = Home::new();
    let key = home.create_key();
    let data_key = home.json(&["generate-data-key", &key]);
    let plaintext = b64.decode(data_key["Plaintext"].as_str().unwrap()).unwrap();
    let blob = home.path("data-key.blob");
    std::fs::write(
        &blob,
        b64.decode(data_key["CiphertextBlob"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let shown = at_a_terminal(&home, &["decrypt", "--ciphertext-file", s(&blob)]);
    assert!(shown.contains(&b64.encode(&plaintext)), "{shown:?}");
    assert!(shown.contains("shown in base64"), "{shown:?}");
    // Redirected, the same command writes the raw bytes.
    let piped = home.run(&["decrypt", "--ciphertext-file", s(&blob)]);
    assert_eq!(piped.stdout, plaintext);
    // Text still goes to the terminal as it is.
    let ct = home.encrypt(&key, b"launch codes", "a=1");
    let shown = at_a_terminal(
        &home,
        &["decrypt", "--ciphertext-file", s(&ct), "--context", "a=1"],
    );
    assert_eq!(shown.trim_end(), "launch codes");
    // An envelope is refused outright.
    std::fs::write(home.path("in.txt"), b"x").unwrap();
    let shown = at_a_terminal(&home, &["seal", &key, s(&home.path("in.txt")), "-"]);
    assert!(shown.contains("standard output is a terminal"), "{shown:?}");
}

#[test]
fn serve_refuses_the_options_that_do_not_apply_to_it() {
    let home = Home::new();
    for (extra, says) in [
        (["--as", "arn:aws:iam::111122223333:root"], "signed it"),
        (
            ["--via-service", "s3.us-east-1.amazonaws.com"],
            "--via-service does not apply",
        ),
        (
            ["--output", "json"],
            "--output json and --query do not apply",
        ),
    ] {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend(extra);
        let out = home.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn query_picks_values_out_and_table_draws_them() {
    let home = Home::new();
    // A single value prints as it is: what a shell variable wants.
    let key = home.ok(&["create-key", "--query", "KeyMetadata.KeyId"]);
    let key = key.strip_suffix('\n').unwrap();
    assert_eq!(key.len(), 36, "{key:?}");
    assert_eq!(home.state(key), "Enabled");
    let other = home.create_key();
    let ids = home.ok(&["list-keys", "--query", "Keys[].KeyId"]);
    let mut listed: Vec<&str> = ids.lines().collect();
    listed.sort();
    let mut expected = vec![key, other.as_str()];
    expected.sort();
    assert_eq!(listed, expected);
    // The same query with --output json is JSON, as the aws CLI's.
    let json = home.ok(&[
        "describe-key",
        key,
        "--query",
        "KeyMetadata.[KeyState,KeySpec]",
        "--output",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json, serde_json::json!(["Enabled", "SYMMETRIC_DEFAULT"]));
    let table = home.ok(&["list-keys", "--output", "table"]);
    assert!(table.contains("| KeyArn "), "{table}");
    assert!(
        table.lines().any(|l| l.contains(key) && l.starts_with('|')),
        "{table}"
    );
    let out = home.run(&["list-keys", "--query", "Keys["]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JMESPath expression"));
}

#[test]
fn options_take_the_aws_cli_names_and_forms() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let home = Home::new();
    let key = home.create_key();
    let (plain, ct) = (home.path("plain.bin"), home.path("ct.bin"));
    std::fs::write(&plain, b"\x00\x01binary").unwrap();
    // --key-id for the first argument, --plaintext fileb://, --outfile for the raw result.
    home.ok(&[
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &format!("fileb://{}", s(&plain)),
        "--outfile",
        s(&ct),
    ]);
    // --ciphertext-blob fileb://; --query Plaintext prints it in base64, as the aws CLI does.
    let shown = home.ok(&[
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", s(&ct)),
        "--query",
        "Plaintext",
    ]);
    assert_eq!(b64.decode(shown.trim()).unwrap(), b"\x00\x01binary");
    // A blob given inline is base64, as in the aws CLI v2.
    let blob = home.ok(&[
        "encrypt",
        &key,
        "--plaintext",
        "aGk=",
        "--query",
        "CiphertextBlob",
    ]);
    let plain = home.ok(&["decrypt", "--ciphertext-blob", blob.trim()]);
    assert_eq!(plain, "hi");
    let out = home.run(&["encrypt", &key, "--plaintext", "not base64!"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fileb://PATH"));
    // Sign and verify with the aws CLI's option names.
    let signer = key_of(&home, "ECC_NIST_P256", "SIGN_VERIFY");
    let of_message = |command: &'static str| {
        [command, "--key-id", &signer, "--message", "aGk="]
            .into_iter()
            .chain(["--signing-algorithm", "ECDSA_SHA_256"])
            .collect::<Vec<_>>()
    };
    let signature = home.ok(&of_message("sign"));
    let verified =
        home.json(&[of_message("verify"), vec!["--signature", signature.trim()]].concat());
    assert_eq!(verified["SignatureValid"], true);
    // The first argument or --key-id, not both.
    let out = home.run(&["describe-key", &key, "--key-id", &key]);
    assert_eq!(out.status.code(), Some(2));
    home.ok(&["describe-key", "--key-id", &key]);
    home.ok(&["list-policy-plugins", "--key-id", &key]);
    // The aws CLI's names where the arguments are several.
    home.ok(&[
        "tag-resource",
        "--key-id",
        &key,
        "--tags",
        "TagKey=team,TagValue=payments",
        "TagKey=env,TagValue=prod",
    ]);
    let tags = home.ok(&["list-resource-tags", &key, "--query", "Tags[].TagKey"]);
    assert_eq!(tags.lines().count(), 2, "{tags}");
    home.ok(&[
        "untag-resource",
        "--key-id",
        &key,
        "--tag-keys",
        "team",
        "env",
    ]);
    assert!(
        home.ok(&["list-resource-tags", &key, "--query", "Tags[].TagKey"])
            .trim()
            .is_empty()
    );
    home.ok(&[
        "create-alias",
        "--alias-name",
        "alias/aws-style",
        "--target-key-id",
        &key,
    ]);
    home.ok(&[
        "update-key-description",
        "--key-id",
        "alias/aws-style",
        "--description",
        "d",
    ]);
    assert_eq!(
        home.ok(&["describe-key", &key, "--query", "KeyMetadata.Description"]),
        "d\n"
    );
    home.ok(&["delete-alias", "--alias-name", "alias/aws-style"]);
    let grant = home.ok(&[
        "create-grant",
        &key,
        "--grantee-principal",
        "arn:aws:iam::111122223333:user/bob",
        "--operations",
        "Encrypt",
        "--query",
        "GrantId",
    ]);
    home.ok(&["revoke-grant", "--key-id", &key, "--grant-id", grant.trim()]);
    let out = home.run(&["tag-resource", "--key-id", &key, "--tags", "team=payments"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TagKey=KEY,TagValue=VALUE"));
}

#[test]
fn decrypt_with_the_wrong_context_fails_with_invalid_ciphertext() {
    let home = Home::new();
    let key = home.create_key();
    let ct = home.encrypt(&key, b"x", "tenant=acme");
    home.fails_with(
        &[
            "decrypt",
            "--ciphertext-file",
            s(&ct),
            "--context",
            "tenant=evil",
        ],
        "InvalidCiphertextException",
    );
}

#[test]
fn a_disabled_key_refuses_encryption() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["disable-key", &key]);
    let out = home.run_with_stdin(&["encrypt", &key], b"x");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DisabledException"));
}

#[test]
fn scheduled_deletion_blocks_use_and_cancelling_leaves_the_key_disabled() {
    let home = Home::new();
    let key = home.create_key();
    let out = home.json(&[
        "schedule-key-deletion",
        &key,
        "--pending-window-in-days",
        "7",
    ]);
    assert_eq!(out["PendingWindowInDays"], 7);
    let refused = home.run_with_stdin(&["encrypt", &key], b"x");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("KMSInvalidStateException"));
    home.ok(&["cancel-key-deletion", &key]);
    assert_eq!(home.state(&key), "Disabled");
}

#[test]
fn old_ciphertexts_decrypt_after_rotation_and_the_rotation_is_listed() {
    let home = Home::new();
    let key = home.create_key();
    let ct = home.encrypt(&key, b"before", "v=1");
    home.ok(&["rotate-key-on-demand", &key]);
    let plain = home.ok(&["decrypt", "--ciphertext-file", s(&ct), "--context", "v=1"]);
    assert_eq!(plain, "before");
    let rotations = home.json(&["list-key-rotations", &key]);
    let list = rotations["Rotations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["RotationType"], "ON_DEMAND");
}

#[test]
fn seal_and_open_round_trip_a_large_file() {
    let home = Home::new();
    let key = home.create_key();
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(home.path("in.bin"), &data).unwrap();
    let (input, sealed, opened) = (
        home.path("in.bin"),
        home.path("in.kms"),
        home.path("out.bin"),
    );
    home.ok(&[
        "seal",
        &key,
        s(&input),
        s(&sealed),
        "--context",
        "file=in.bin",
    ]);
    // Without its context, the envelope is refused (as Decrypt refuses), saying what to give.
    let out = home.run(&["open", s(&sealed), s(&opened)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keys: file") && stderr.contains("--encryption-context file=..."),
        "{stderr}"
    );
    assert!(!opened.exists(), "output written without the context");
    home.ok(&["open", s(&sealed), s(&opened), "--context", "file=in.bin"]);
    assert_eq!(std::fs::read(&opened).unwrap(), data);
}

#[test]
fn open_of_a_tampered_envelope_fails_and_leaves_no_output() {
    let home = Home::new();
    let key = home.create_key();
    std::fs::write(home.path("in.bin"), vec![7u8; 300_000]).unwrap();
    let (input, sealed, opened) = (
        home.path("in.bin"),
        home.path("in.kms"),
        home.path("out.bin"),
    );
    home.ok(&["seal", &key, s(&input), s(&sealed)]);
    let mut bytes = std::fs::read(&sealed).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&sealed, bytes).unwrap();
    let out = home.run(&["open", s(&sealed), s(&opened)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!opened.exists());
    let leftovers: Vec<_> = std::fs::read_dir(home.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn list_keys_pages_with_limit_and_marker() {
    let home = Home::new();
    for _ in 0..3 {
        home.create_key();
    }
    let first = home.json(&["list-keys", "--limit", "2"]);
    assert_eq!(first["Keys"].as_array().unwrap().len(), 2);
    assert_eq!(first["Truncated"], true);
    let marker = first["NextMarker"].as_str().unwrap();
    let second = home.json(&["list-keys", "--limit", "2", "--marker", marker]);
    assert_eq!(second["Keys"].as_array().unwrap().len(), 1);
    let all = home.json(&["list-keys", "--limit", "1", "--all"]);
    assert_eq!(all["Keys"].as_array().unwrap().len(), 3);
}

#[test]
fn tags_are_added_listed_and_removed() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["tag-resource", &key, "team=payments", "env=prod"]);
    let tags = home.json(&["list-resource-tags", &key]);
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 2);
    home.ok(&["untag-resource", &key, "env"]);
    let tags = home.json(&["list-resource-tags", &key]);
    assert_eq!(tags["Tags"][0]["TagKey"], "team");
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 1);
}

#[test]
fn generate_random_prints_the_requested_number_of_bytes_in_base64() {
    use base64::Engine;
    let home = Home::new();
    let out = home.ok(&["generate-random", "32"]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap();
    assert_eq!(bytes.len(), 32);
    home.fails_with(&["generate-random", "2000"], "ValidationException");
}

#[test]
fn generate_data_key_returns_a_blob_that_decrypts_to_its_plaintext() {
    let home = Home::new();
    let key = home.create_key();
    let out = home.json(&[
        "generate-data-key",
        &key,
        "--key-spec",
        "AES_256",
        "--context",
        "p=1",
    ]);
    let blob = out["CiphertextBlob"].as_str().unwrap();
    std::fs::write(home.path("dk.b64"), blob).unwrap();
    let back = home.json(&[
        "decrypt",
        "--ciphertext-file",
        s(&home.path("dk.b64")),
        "--context",
        "p=1",
    ]);
    assert_eq!(back["Plaintext"], out["Plaintext"]);
}

#[test]
fn a_wrong_root_key_is_refused() {
    let home = Home::new();
    home.create_key();
    let root = home.path("home/root.key");
    std::fs::write(&root, format!("{}\n", "ab".repeat(32))).unwrap();
    home.fails_with(&["list-keys"], "AccessDeniedException");
}

#[test]
fn duplicate_context_keys_are_a_validation_error() {
    let home = Home::new();
    let key = home.create_key();
    let out = home.run_with_stdin(
        &["encrypt", &key, "--context", "a=1", "--context", "a=2"],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValidationException"));
}

#[test]
fn usage_errors_exit_with_status_2() {
    let home = Home::new();
    let out = home.run(&["encrypt"]);
    assert_eq!(out.status.code(), Some(2));
}

// ----- components -----

use kms_guest_components as stock;

#[test]
fn run_executes_a_tenant_app_with_the_granted_keys() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    let report = home.ok(&[
        "run",
        stock::TENANT_APP,
        "--allow",
        "alias/app=all",
        "--",
        "alias/app",
    ]);
    assert!(report.contains("encrypt/decrypt: ok"), "{report}");
    assert!(report.contains("data key seal/open: ok"), "{report}");
    assert!(report.contains(&format!("key/{key}: Enabled")), "{report}");
}

#[test]
fn the_stock_components_are_compiled_in_listed_and_written_out() {
    let home = Home::new();
    let listed = home.json(&["components"]);
    let names: Vec<&str> = listed["Components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "stock:tenant-app",
            "stock:data-key-wrapper",
            "stock:abac-policy"
        ]
    );
    // Run by name, with no build tree in sight: the bytes are the ones the build made.
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    let report = home.ok(&[
        "run",
        "stock:tenant-app",
        "--allow",
        "alias/app=all",
        "--",
        "alias/app",
    ]);
    assert!(report.contains("encrypt/decrypt: ok"), "{report}");
    home.ok(&[
        "attach-policy-plugin",
        "--key",
        &key,
        "--name",
        "abac",
        "stock:abac-policy",
    ]);
    home.ok(&["components", "--write", "stock"]);
    assert_eq!(
        std::fs::read(home.path("stock/tenant-app.wasm")).unwrap(),
        stock::bytes(stock::TENANT_APP)
    );
    // The WIT a component author builds against: the host's own, file for file.
    home.ok(&["components", "--wit", "wit"]);
    let repository_wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    for entry in std::fs::read_dir(&repository_wit).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(home.path("wit").join(&name)).unwrap(),
            std::fs::read(repository_wit.join(&name)).unwrap(),
            "{name:?}"
        );
    }
    let out = home.run(&["run", "stock:tenant-ap"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the stock components are tenant-app"),
        "{stderr}"
    );
}

#[test]
fn completions_load_into_bash_and_complete_commands() {
    let home = Home::new();
    let script = home.ok(&["completions", "bash"]);
    std::fs::write(home.path("kms.bash"), &script).unwrap();
    // Loaded as a user's shell would, then asked what `kms enc<TAB>` completes to.
    let probe = format!(
        "source {}; COMP_WORDS=(kms enc); COMP_CWORD=1; _kms kms enc kms; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        home.path("kms.bash").display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let completed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(completed.lines().any(|l| l == "encrypt"), "{completed}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert!(!home.ok(&["completions", shell]).is_empty(), "{shell}");
    }
}

#[test]
fn run_grants_nothing_by_default() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    home.fails_with(
        &["run", stock::TENANT_APP, "--", "alias/app"],
        "NotFoundException",
    );
}

#[test]
fn run_stops_a_guest_at_its_time_limit() {
    let home = Home::new();
    home.fails_with(
        &[
            "run",
            stock::HOSTILE_APP,
            "--time-limit-ms",
            "200",
            "--",
            "spin",
        ],
        "TimeLimit",
    );
}

#[test]
fn run_refuses_a_component_with_more_code_than_the_host_compiles_at_once() {
    use kms_integration_tests::generated;
    let home = Home::new();
    // 4 MiB and a bit of code: minutes of compilation in a debug build, were it compiled.
    let bytes = generated::with_unused_core_modules(
        &stock::bytes(stock::TENANT_APP),
        &[generated::large_code(34, 128 << 10)],
    );
    let path = home.path("large.wasm");
    std::fs::write(&path, bytes).unwrap();
    let started = std::time::Instant::now();
    home.fails_with(
        &["run", s(&path), "--time-limit-ms", "100"],
        "bytes of code",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn run_refuses_malformed_grants_and_principals() {
    let home = Home::new();
    home.fails_with(
        &["run", stock::TENANT_APP, "--allow", "alias/app"],
        "SELECTOR=OPERATIONS",
    );
    home.fails_with(
        &["run", stock::TENANT_APP, "--allow", "alias/app=fly"],
        "not a key operation",
    );
    home.fails_with(
        &["run", stock::TENANT_APP, "--principal", "bob"],
        "not an IAM principal ARN",
    );
}

#[test]
fn policy_plugins_are_attached_listed_and_detached() {
    let home = Home::new();
    let key = home.json(&["create-key", "--tag", "tenant=acme"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&[
        "attach-policy-plugin",
        "--key",
        &key,
        "--name",
        "abac",
        stock::ABAC_POLICY,
    ]);
    home.encrypt(&key, b"x", "tenant=acme");
    let refused = home.run_with_stdin(&["encrypt", &key, "--context", "tenant=globex"], b"x");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AccessDeniedException"));

    let listed = home.json(&["list-policy-plugins", "--key", &key]);
    assert_eq!(listed["Plugins"][0]["PluginName"], "abac");
    assert!(
        home.json(&["list-policy-plugins"])["Plugins"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    home.ok(&["detach-policy-plugin", "--key", &key, "--name", "abac"]);
    home.encrypt(&key, b"x", "tenant=globex");
    home.fails_with(
        &["detach-policy-plugin", "--key", &key, "--name", "abac"],
        "NotFoundException",
    );
}

#[test]
fn an_account_guard_rail_applies_to_every_key() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&[
        "attach-policy-plugin",
        "--name",
        "freeze",
        "--config",
        "mode=deny",
        stock::HOSTILE_PLUGIN,
    ]);
    let refused = home.run_with_stdin(&["encrypt", &key], b"x");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AccessDeniedException"));
    home.fails_with(
        &["attach-policy-plugin", "--name", "bad", stock::TENANT_APP],
        "ValidationException",
    );
}

// ----- key pairs and MAC keys -----

fn key_of(home: &Home, spec: &str, usage: &str) -> String {
    home.json(&["create-key", "--key-spec", spec, "--key-usage", usage])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn sign_verify_and_get_public_key_interoperate_with_openssl() {
    let home = Home::new();
    let key = key_of(&home, "ECC_NIST_P256", "SIGN_VERIFY");
    std::fs::write(home.path("message"), b"release 1.0").unwrap();
    let message = home.path("message");
    let message = message.to_str().unwrap();
    let signature = home.ok(&[
        "sign",
        &key,
        "--message-file",
        message,
        "--signing-algorithm",
        "ECDSA_SHA_256",
    ]);
    std::fs::write(home.path("signature.b64"), &signature).unwrap();
    let verified = home.json(&[
        "verify",
        &key,
        "--message-file",
        message,
        "--signing-algorithm",
        "ECDSA_SHA_256",
        "--signature-file",
        home.path("signature.b64").to_str().unwrap(),
    ]);
    assert_eq!(verified["SignatureValid"], true);
    std::fs::write(home.path("other"), b"release 1.1").unwrap();
    home.fails_with(
        &[
            "verify",
            &key,
            "--message-file",
            home.path("other").to_str().unwrap(),
            "--signing-algorithm",
            "ECDSA_SHA_256",
            "--signature-file",
            home.path("signature.b64").to_str().unwrap(),
        ],
        "KMSInvalidSignatureException",
    );
    home.ok(&[
        "get-public-key",
        &key,
        "--out",
        home.path("public.der").to_str().unwrap(),
    ]);
    home.ok(&[
        "sign",
        &key,
        "--message-file",
        message,
        "--signing-algorithm",
        "ECDSA_SHA_256",
        "--out",
        home.path("signature.bin").to_str().unwrap(),
    ]);
    let openssl = Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-keyform",
            "DER",
            "-verify",
            "public.der",
            "-signature",
        ])
        .args(["signature.bin", "message"])
        .current_dir(home.path(""))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&openssl.stdout).trim(),
        "Verified OK"
    );
    home.fails_with(
        &[
            "sign",
            &key,
            "--message-file",
            message,
            "--signing-algorithm",
            "RSASSA_PSS_SHA_256",
        ],
        "InvalidKeyUsageException",
    );
    home.fails_with(
        &["create-key", "--key-spec", "ECC_NIST_P256"],
        "ValidationException",
    );
    let unknown = home.run(&["create-key", "--key-spec", "RSA_1024"]);
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not a valid KeySpec"));
}

#[test]
fn macs_rsa_encryption_and_data_key_pairs_from_the_command_line() {
    let home = Home::new();
    let mac_key = key_of(&home, "HMAC_384", "GENERATE_VERIFY_MAC");
    std::fs::write(home.path("message"), b"session=42").unwrap();
    let message = home.path("message");
    let message = message.to_str().unwrap();
    let mac = home.ok(&[
        "generate-mac",
        &mac_key,
        "--message-file",
        message,
        "--mac-algorithm",
        "HMAC_SHA_384",
    ]);
    std::fs::write(home.path("mac"), &mac).unwrap();
    let verified = home.json(&[
        "verify-mac",
        &mac_key,
        "--message-file",
        message,
        "--mac-algorithm",
        "HMAC_SHA_384",
        "--mac-file",
        home.path("mac").to_str().unwrap(),
    ]);
    assert_eq!(verified["MacValid"], true);

    let rsa = key_of(&home, "RSA_2048", "ENCRYPT_DECRYPT");
    let out = home.run_with_stdin(
        &[
            "encrypt",
            &rsa,
            "--encryption-algorithm",
            "RSAES_OAEP_SHA_256",
        ],
        b"card 4242",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(home.path("ct"), &out.stdout).unwrap();
    let plaintext = home.ok(&[
        "decrypt",
        "--ciphertext-file",
        home.path("ct").to_str().unwrap(),
        "--key-id",
        &rsa,
        "--encryption-algorithm",
        "RSAES_OAEP_SHA_256",
    ]);
    assert_eq!(plaintext, "card 4242");

    let symmetric = home.create_key();
    let pair = home.json(&[
        "generate-data-key-pair",
        &symmetric,
        "--key-pair-spec",
        "ECC_NIST_P384",
    ]);
    assert_eq!(pair["KeyPairSpec"], "ECC_NIST_P384");
    assert!(pair["PrivateKeyPlaintext"].is_string());
    let without = home.json(&[
        "generate-data-key-pair-without-plaintext",
        &symmetric,
        "--key-pair-spec",
        "RSA_2048",
    ]);
    assert!(without.get("PrivateKeyPlaintext").is_none());
}

#[test]
fn key_policies_from_the_command_line() {
    let home = Home::new();
    let key = home.create_key();
    let default = home.ok(&["get-key-policy", &key]);
    assert!(
        default.contains("arn:aws:iam::111122223333:root"),
        "{default}"
    );
    assert_eq!(
        home.json(&["list-key-policies", &key])["PolicyNames"][0],
        "default"
    );
    // A policy that locks the CLI's own principal (the account root) out is refused...
    std::fs::write(
        home.path("policy.json"),
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/other"},"Action":"kms:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let policy = home.path("policy.json");
    let policy = policy.to_str().unwrap();
    home.fails_with(
        &["put-key-policy", &key, "--policy-file", policy],
        "MalformedPolicyDocumentException",
    );
    // ...and a malformed one too.
    std::fs::write(home.path("bad.json"), "{").unwrap();
    home.fails_with(
        &[
            "create-key",
            "--policy-file",
            home.path("bad.json").to_str().unwrap(),
        ],
        "MalformedPolicyDocumentException",
    );
    // One that keeps the root in is stored and read back.
    std::fs::write(
        home.path("keep.json"),
        r#"{"Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#,
    )
    .unwrap();
    home.ok(&[
        "put-key-policy",
        &key,
        "--policy-file",
        home.path("keep.json").to_str().unwrap(),
    ]);
    assert!(
        home.ok(&["get-key-policy", &key])
            .contains("\"Sid\":\"Root\"")
    );
}

#[test]
fn audit_verify_and_query_from_the_command_line() {
    let home = Home::new();
    let key = home.create_key();
    home.encrypt(&key, b"x", "a=1");
    home.fails_with(&["disable-key", "no-such-key"], "");
    let intact = home.ok(&["audit", "verify"]);
    assert!(intact.starts_with("audit trail intact:"), "{intact}");
    let encrypts = home.json(&["audit", "query", "--operation", "Encrypt"]);
    let encrypts = encrypts.as_array().unwrap();
    assert_eq!(encrypts.len(), 1);
    let sequence = |r: &serde_json::Value| r["additionalEventData"]["sequence"].as_u64().unwrap();
    assert!(sequence(&encrypts[0]) > 1);
    // CloudTrail's shape: ISO 8601 time, the event's name, the context as an object.
    let event = &encrypts[0];
    assert_eq!(event["eventName"], "Encrypt");
    assert_eq!(event["eventSource"], "kms.amazonaws.com");
    assert!(
        event["eventTime"].as_str().unwrap().ends_with('Z'),
        "{event}"
    );
    assert_eq!(event["userIdentity"]["type"], "Root");
    assert_eq!(event["requestParameters"]["encryptionContext"]["a"], "1");
    assert!(
        event["resources"][0]["ARN"]
            .as_str()
            .unwrap()
            .ends_with(&key)
    );
    assert!(event.get("errorCode").is_none(), "{event}");
    let for_key = home.ok(&["audit", "query", "--key", &key]);
    assert!(for_key.lines().count() >= 2, "{for_key}");
    assert!(
        for_key.contains("CreateKey") && for_key.contains("Encrypt"),
        "{for_key}"
    );
    // Filters as people type them: an alias for its key, names in any case, Failure for any
    // failure; a value that names nothing is an error saying what the trail holds.
    home.ok(&["create-alias", "alias/orders", &key]);
    let by_alias = home.ok(&["audit", "query", "--key", "alias/orders"]);
    assert!(
        by_alias.contains("CreateKey") && by_alias.contains("Encrypt"),
        "{by_alias}"
    );
    let lower = home.json(&["audit", "query", "--operation", "encrypt"]);
    assert_eq!(lower.as_array().unwrap().len(), 1);
    let prefixed = home.json(&["audit", "query", "--operation", "kms:Encrypt"]);
    assert_eq!(prefixed.as_array().unwrap().len(), 1);
    let failures = home.json(&["audit", "query", "--outcome", "failure"]);
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["errorCode"], "NotFoundException");
    assert!(failures[0]["errorMessage"].is_string());
    let by_code = home.json(&["audit", "query", "--outcome", "notfoundexception"]);
    assert_eq!(by_code.as_array().unwrap().len(), 1);
    // An AWS operation the trail does not hold yet is a valid filter with no records.
    assert!(
        home.ok(&["audit", "query", "--operation", "Sign"])
            .is_empty()
    );
    for (option, typo) in [("--operation", "Encrpyt"), ("--outcome", "Failur")] {
        let out = home.run(&["audit", "query", option, typo]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(typo) && stderr.contains("the trail holds"),
            "{stderr}"
        );
    }
    home.fails_with(
        &["audit", "query", "--key", "alias/nothing"],
        "NotFoundException",
    );
    let last = home.ok(&["audit", "query", "--limit", "1"]);
    assert_eq!(last.lines().count(), 1);
    assert!(
        home.ok(&["audit", "query", "--since", "2999-01-01T00:00:00Z"])
            .is_empty()
    );

    // Edit one record in the vault file: verification fails at it.
    let vault = home.path("home").join("vault.db");
    let db = rusqlite::Connection::open(&vault).unwrap();
    db.execute(
        "UPDATE audit_log SET event = replace(event, 'Encrypt', 'Decrypt') WHERE seq = ?1",
        [sequence(&encrypts[0]) as i64],
    )
    .unwrap();
    drop(db);
    home.fails_with(&["audit", "verify"], "audit trail broken at record");
}

#[test]
fn init_creates_an_administrator_with_an_access_key() {
    let home = Home::new();
    let credentials = std::fs::read_to_string(home.path("home/credentials")).unwrap();
    assert!(credentials.starts_with("[kms-local]\naws_access_key_id = AKIA"));
    assert!(credentials.contains("aws_secret_access_key = "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path("home/credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let admin = home.json(&["principal", "show", "arn:aws:iam::111122223333:user/admin"]);
    assert_eq!(
        admin["PolicyNames"],
        serde_json::json!(["AdministratorAccess"])
    );
    let keys = home.json(&["access-key", "list", "arn:aws:iam::111122223333:user/admin"]);
    let id = keys["Items"][0]["AccessKeyId"].as_str().unwrap();
    assert!(credentials.contains(id));
    // The listing never shows the secret.
    assert!(!keys.to_string().contains("Secret"));
    // The administrator may act, through its identity policy.
    home.ok(&["--as", "arn:aws:iam::111122223333:user/admin", "create-key"]);
}

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";

#[test]
fn identity_policies_grants_and_analyze_from_the_command_line() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    home.ok(&["principal", "create", ALICE, "--tag", "team=blue"]);
    home.ok(&["principal", "create", BOB]);
    let plaintext = home.path("p.txt");
    std::fs::write(&plaintext, b"hello").unwrap();
    let encrypt_as = |who: &str, extra: &[&str]| {
        let mut args = vec!["--as", who, "encrypt", "alias/app", "--plaintext-file"];
        args.push(s(&plaintext));
        args.extend(extra);
        home.run(&args)
    };
    assert!(!encrypt_as(ALICE, &[]).status.success());
    home.fails_with(
        &[
            "--as",
            ALICE,
            "encrypt",
            "alias/app",
            "--plaintext-file",
            s(&plaintext),
        ],
        "AccessDeniedException",
    );
    // An identity policy conditioned on the principal's tag.
    let policy = home.path("alice.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}}]}"#,
    )
    .unwrap();
    home.ok(&[
        "principal",
        "put-policy",
        ALICE,
        "--name",
        "enc",
        "--policy-file",
        s(&policy),
    ]);
    assert!(encrypt_as(ALICE, &[]).status.success());
    home.ok(&["principal", "tag", ALICE, "team=red"]);
    assert!(!encrypt_as(ALICE, &[]).status.success());
    // A grant with a context constraint lets bob encrypt only under that context.
    let grant = home.json(&[
        "create-grant",
        &key,
        "--grantee-principal",
        BOB,
        "--operations",
        "Encrypt",
        "--context-subset",
        "dept=it",
    ]);
    let grant_id = grant["GrantId"].as_str().unwrap().to_string();
    assert!(encrypt_as(BOB, &["--context", "dept=it"]).status.success());
    assert!(!encrypt_as(BOB, &["--context", "dept=hr"]).status.success());
    let listed = home.json(&["list-grants", &key]);
    assert_eq!(listed["Grants"][0]["GrantId"], grant_id.as_str());
    assert_eq!(
        listed["Grants"][0]["Constraints"]["EncryptionContextSubset"]["dept"],
        "it"
    );
    // Bob may not revoke his own grant; the account may.
    home.fails_with(
        &["--as", BOB, "revoke-grant", &key, &grant_id],
        "AccessDeniedException",
    );
    // Analyze sees the used grant as used, and an open key policy.
    let open = home.path("open.json");
    std::fs::write(
        &open,
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
            {"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#,
    )
    .unwrap();
    let open_key = home.json(&["create-key", "--policy-file", s(&open)])["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&[
        "create-grant",
        &open_key,
        "--grantee-principal",
        ALICE,
        "--operations",
        "Decrypt",
    ]);
    // A principal with every KMS permission on one key through its identity policy is a
    // finding; the administrator `kms init` made is listed once as such, not on every key.
    let ops = "arn:aws:iam::111122223333:user/ops";
    home.ok(&["principal", "create", ops]);
    std::fs::write(
        home.path("ops.json"),
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/{key}"}}]}}"#
        ),
    )
    .unwrap();
    home.ok(&[
        "principal",
        "put-policy",
        ops,
        "--name",
        "ops",
        "--policy-file",
        s(&home.path("ops.json")),
    ]);
    let report = home.json(&["analyze", "--unused-days", "0"]);
    let broad: Vec<(&str, &str)> = report["BroadPrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["Principal"].as_str().unwrap(),
                b["KeyArn"].as_str().unwrap(),
            )
        })
        .collect();
    let key_arn = format!("arn:aws:kms:us-east-1:111122223333:key/{key}");
    assert_eq!(broad, [(ops, key_arn.as_str())], "{report}");
    assert_eq!(
        report["Administrators"],
        serde_json::json!([{
            "Principal": "arn:aws:iam::111122223333:user/admin",
            "ThroughPolicy": "AdministratorAccess"
        }])
    );
    let unused_grants = report["UnusedGrants"].as_array().unwrap();
    assert_eq!(unused_grants.len(), 1, "{report}");
    assert_eq!(unused_grants[0]["KeyArn"], open_key.as_str());
    assert_eq!(report["OpenPolicyStatements"][0]["Sid"], "Everyone");
    assert_eq!(
        report["OpenPolicyStatements"][0]["KeyArn"],
        open_key.as_str()
    );
    home.ok(&["revoke-grant", &key, &grant_id]);
    assert!(!encrypt_as(BOB, &["--context", "dept=it"]).status.success());
    // Every refusal above is in the audit trail under the principal that was refused.
    let denied = home.ok(&[
        "audit",
        "query",
        "--principal",
        BOB,
        "--outcome",
        "AccessDeniedException",
    ]);
    assert!(denied.lines().count() >= 3, "{denied}");
}

#[test]
fn a_guest_acts_with_exactly_its_principals_permissions() {
    let home = Home::new();
    let key = home.create_key();
    home.ok(&["create-alias", "alias/app", &key]);
    home.ok(&["principal", "create", ALICE]);
    let run = |home: &Home| {
        home.run(&[
            "run",
            stock::TENANT_APP,
            "--principal",
            ALICE,
            "--allow",
            "alias/app=all",
            "--",
            "alias/app",
        ])
    };
    let refused = run(&home);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
    assert!(stderr.contains(ALICE), "{stderr}");
    home.ok(&[
        "create-grant",
        &key,
        "--grantee-principal",
        ALICE,
        "--operations",
        "DescribeKey,Encrypt,Decrypt,ReEncryptFrom,ReEncryptTo,GenerateDataKey,GenerateDataKeyWithoutPlaintext",
    ]);
    let served = run(&home);
    let stdout = String::from_utf8_lossy(&served.stdout);
    assert!(
        served.status.success(),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    assert!(stdout.contains("encrypt/decrypt: ok"), "{stdout}");
    // The guest's calls are audited under alice, with the grant that allowed them.
    let records = home.json(&[
        "audit",
        "query",
        "--principal",
        ALICE,
        "--operation",
        "Encrypt",
    ]);
    let records = records.as_array().unwrap();
    assert!(
        records.iter().any(|r| r.get("errorCode").is_none()
            && r["additionalEventData"]["grantId"].is_string()
            && r["additionalEventData"]["source"]
                .as_str()
                .unwrap()
                .starts_with("guest:")),
        "{records:?}"
    );
}

#[test]
fn imported_material_is_wrapped_imported_erased_and_reimported_from_the_command_line() {
    let home = Home::new();
    let key = home.json(&["create-key", "--origin", "EXTERNAL"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(home.state(&key), "PendingImport");
    let material = home.path("material.bin");
    std::fs::write(&material, [0x5a; 32]).unwrap();
    let imported = home.json(&[
        "import-key-material",
        &key,
        "--key-material-file",
        s(&material),
    ]);
    let material_id = imported["KeyMaterialId"].as_str().unwrap().to_string();
    assert_eq!(home.state(&key), "Enabled");
    let ct = home.encrypt(&key, b"imported", "v=1");

    let deleted = home.json(&["delete-imported-key-material", &key]);
    assert_eq!(deleted["KeyMaterialId"], material_id.as_str());
    assert_eq!(home.state(&key), "PendingImport");
    home.fails_with(
        &["decrypt", "--ciphertext-file", s(&ct), "--context", "v=1"],
        "KMSInvalidStateException",
    );
    let other = home.path("other.bin");
    std::fs::write(&other, [0x5b; 32]).unwrap();
    home.fails_with(
        &[
            "import-key-material",
            &key,
            "--key-material-file",
            s(&other),
        ],
        "IncorrectKeyMaterialException",
    );

    // The parameters written to files, the material wrapped by this command's own code path
    // as a third party would, with the token and wrapped material handed back as files.
    let public = home.path("WrappingPublicKey.der");
    let token = home.path("ImportToken.bin");
    home.json(&[
        "get-parameters-for-import",
        &key,
        "--wrapping-algorithm",
        "RSAES_OAEP_SHA_256",
        "--wrapping-key-spec",
        "RSA_2048",
        "--public-key-out",
        s(&public),
        "--import-token-out",
        s(&token),
    ]);
    let wrapped = kms_crypto::key_import::wrap_for_import(
        &std::fs::read(&public).unwrap(),
        kms_crypto::key_import::WrappingAlgorithmSpec::RsaesOaepSha256,
        &[0x5a; 32],
    )
    .unwrap();
    let wrapped_file = home.path("EncryptedKeyMaterial.bin");
    std::fs::write(&wrapped_file, wrapped).unwrap();
    home.ok(&[
        "import-key-material",
        &key,
        "--encrypted-key-material-file",
        s(&wrapped_file),
        "--import-token-file",
        s(&token),
    ]);
    let plain = home.ok(&["decrypt", "--ciphertext-file", s(&ct), "--context", "v=1"]);
    assert_eq!(plain, "imported");
}

/// `kms` in an empty directory: no vault, no KMS_HOME of its own.
fn bare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(args)
        .env("KMS_HOME", dir.join("no-vault-here"))
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn a_policy_plugin_is_evaluated_and_tested_from_the_command_line_without_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let out = bare(
        dir.path(),
        &[
            "plugin",
            "eval",
            "--component",
            "stock:abac-policy",
            "--request",
            r#"{"Action":"kms:Encrypt","KeyTags":{"tenant":"acme"},"EncryptionContext":{"tenant":"acme"}}"#,
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["Verdict"], "Allow");
    assert!(
        !dir.path().join("no-vault-here").exists(),
        "no vault was made"
    );

    // A table of 24 cases: the ABAC rule over tenants, actions, untagged keys and settings.
    let mut cases = Vec::new();
    for (i, tenant) in ["acme", "globex", "initech"].iter().enumerate() {
        for action in [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "kms:ReEncryptFrom",
        ] {
            let other = ["globex", "initech", "acme"][i];
            cases.push(serde_json::json!({
                "Name": format!("{action} by {tenant} on {tenant}'s key"),
                "Request": {"Action": action, "KeyTags": {"tenant": tenant},
                            "EncryptionContext": {"tenant": tenant}},
                "Expect": "Allow"}));
            cases.push(serde_json::json!({
                "Name": format!("{action} by {other} on {tenant}'s key"),
                "Request": {"Action": action, "KeyTags": {"tenant": tenant},
                            "EncryptionContext": {"tenant": other}},
                "Expect": "Deny", "Reason": format!("tenant={other}")}));
        }
    }
    assert_eq!(cases.len(), 24);
    cases.push(serde_json::json!({
        "Name": "DescribeKey is not governed",
        "Request": {"Action": "kms:DescribeKey", "KeyTags": {"tenant": "acme"}},
        "Expect": "Abstain"}));
    cases.push(serde_json::json!({
        "Name": "an untagged key is not the rule's",
        "Request": {"Action": "kms:Encrypt"}, "Expect": "Abstain"}));
    let table = dir.path().join("cases.json");
    std::fs::write(
        &table,
        serde_json::json!({"Component": "stock:abac-policy", "Cases": cases}).to_string(),
    )
    .unwrap();
    let out = bare(dir.path(), &["plugin", "test", table.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("26 passed, 0 failed, 26 cases in"),
        "{stdout}"
    );
    println!("kms plugin test: {summary}");

    // One wrong expectation: a readable diff and a failing exit.
    cases[0]["Expect"] = serde_json::json!("Deny");
    std::fs::write(
        &table,
        serde_json::json!({"Component": "stock:abac-policy", "Cases": cases}).to_string(),
    )
    .unwrap();
    let out = bare(dir.path(), &["plugin", "test", table.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  kms:Encrypt by acme on acme's key")
            && stdout.contains("  - expected: Deny")
            && stdout.contains("  + got:      Allow")
            && stdout.contains("25 passed, 1 failed"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 26 cases got another verdict"));
}

#[test]
fn a_data_key_wrapper_is_round_tripped_from_the_command_line_without_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let out = bare(
        dir.path(),
        &[
            "wrapper",
            "test",
            "--component",
            "stock:data-key-wrapper",
            "--context",
            "tenant=acme",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok      round trip of 1048576 bytes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok      4096 bytes with another context is refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok      1 bytes tampered is refused"),
        "{stdout}"
    );
    assert!(stdout.contains("0 failed; 4 plaintexts"), "{stdout}");
    // A policy plugin is not a wrapper: said so, and a failing exit.
    let out = bare(
        dir.path(),
        &["wrapper", "test", "--component", "stock:abac-policy"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrapper"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
