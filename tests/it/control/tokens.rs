//! `edgectl token`: join tokens are made with the CA pin, listed without secrets, revoked.
use super::harness::{fails, ok, Master};

#[test]
fn tokens_are_created_listed_without_secrets_and_revoked() {
    let master = Master::start();
    let token = ok(master.edgectl(&["token", "create", "--ttl", "2h", "--description", "pi-2"]));
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 4, "{token}");
    assert_eq!(parts[0], "EDGE1");
    assert_eq!(parts[1], master.pki().ca_pin());
    let (id, secret) = (parts[2], parts[3]);

    let list = ok(master.edgectl(&["token", "list"]));
    let mut lines = list.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["ID", "TTL", "EXPIRES", "USES", "AGE", "DESCRIPTION"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], id);
    assert!(row[1] == "119m" || row[1] == "120m", "{list}");
    assert_eq!((row[3], row[5]), ("0", "pi-2"));
    assert!(!list.contains(secret), "the secret was listed: {list}");

    assert_eq!(
        ok(master.edgectl(&["token", "revoke", id])),
        format!("token \"{id}\" revoked\n")
    );
    let output = master.edgectl(&["token", "list"]);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "No tokens found\n");
    let stderr = fails(master.edgectl(&["token", "revoke", id]));
    assert_eq!(
        stderr,
        format!("Error from server (NotFound): tokens \"{id}\" not found\n")
    );
    let stderr = fails(master.edgectl(&["token", "create", "--ttl", "soon"]));
    assert!(stderr.contains("invalid duration"), "{stderr}");
}
