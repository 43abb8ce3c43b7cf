//! The miner-method params sealfleet's TypeScript encodes (src/chain/minerParams.ts) and its devnet decodes,
//! checked against the actors' own Rust types (builtin-actors v18, as published in `fil_actor_miner_state`).
//!
//! Every vector under test/chain/vectors/ whose method is one we send is decoded with the actor's type and
//! encoded again with it, which must give back the same bytes: what our encoder writes is what the actor reads,
//! and what the actor's encoder writes is what our decoder was tested on. Where a vector's `input` spells the
//! value out (methods 28, 34, 35), the value built from it with the actor's types must equal the decoded one.
//!
//! Vector files: `*.json` as `{"vectors": [{"name", "method", "hex", "input"?}]}` (test/chain/vectors/
//! miner-params.json), and `<Method>[-<case>].hex` holding the params' hex (whitespace ignored), `<Method>` being
//! a name of `METHODS` below.

use std::fs;
use std::path::{Path, PathBuf};

use cid::Cid;
use fil_actor_miner_state::v18 as miner;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::piece::PaddedPieceSize;
use fvm_shared::sector::{RegisteredAggregateProof, RegisteredSealProof, RegisteredUpdateProof};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Decodes with the actor's type, encodes again, and returns the value.
fn round_trip<T: Serialize + DeserializeOwned>(what: &str, bytes: &[u8]) -> T {
    let value: T = fvm_ipld_encoding::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what}: the actor's type does not decode our bytes: {e}"));
    let again = fvm_ipld_encoding::to_vec(&value)
        .unwrap_or_else(|e| panic!("{what}: the actor's type does not encode: {e}"));
    assert_eq!(
        hex::encode(&again),
        hex::encode(bytes),
        "{what}: the actor encodes the decoded value differently from our bytes"
    );
    value
}

/// Miner methods sealfleet sends, by the names src/chain/minerParams.ts gives them, and their number.
const METHODS: &[(&str, u64)] = &[
    ("SubmitWindowedPoSt", 5),
    ("TerminateSectors", 9),
    ("DeclareFaults", 10),
    ("DeclareFaultsRecovered", 11),
    ("PreCommitSectorBatch2", 28),
    ("ExtendSectorExpiration2", 32),
    ("ProveCommitSectors3", 34),
    ("ProveReplicaUpdates3", 35),
];

/// Checks one vector; `input` is compared for the methods whose input layout test/chain/minerParams.test.ts fixes
/// (the others' inputs are the TypeScript tests' business until their layouts settle).
fn check(what: &str, method: &str, bytes: &[u8], input: Option<&Value>) {
    match method {
        "SubmitWindowedPoSt" => {
            round_trip::<miner::SubmitWindowedPoStParams>(what, bytes);
        }
        "TerminateSectors" => {
            round_trip::<miner::TerminateSectorsParams>(what, bytes);
        }
        "DeclareFaults" => {
            round_trip::<miner::DeclareFaultsParams>(what, bytes);
        }
        "DeclareFaultsRecovered" => {
            round_trip::<miner::DeclareFaultsRecoveredParams>(what, bytes);
        }
        "ExtendSectorExpiration2" => {
            round_trip::<miner::ExtendSectorExpiration2Params>(what, bytes);
        }
        "PreCommitSectorBatch2" => {
            let decoded = round_trip::<miner::PreCommitSectorBatchParams2>(what, bytes);
            if let Some(input) = input {
                let built = precommit(input);
                assert_eq!(decoded, built, "{what}: the bytes do not hold the vector's input");
                assert_eq!(fvm_ipld_encoding::to_vec(&built).unwrap(), bytes, "{what}");
            }
        }
        "ProveCommitSectors3" => {
            let decoded = round_trip::<miner::ProveCommitSectors3Params>(what, bytes);
            if let Some(input) = input {
                let built = prove_commit(input);
                assert_eq!(decoded, built, "{what}: the bytes do not hold the vector's input");
                assert_eq!(fvm_ipld_encoding::to_vec(&built).unwrap(), bytes, "{what}");
            }
        }
        "ProveReplicaUpdates3" => {
            let decoded = round_trip::<miner::ProveReplicaUpdates3Params>(what, bytes);
            if let Some(input) = input {
                let built = replica_updates(input);
                assert_eq!(decoded, built, "{what}: the bytes do not hold the vector's input");
                assert_eq!(fvm_ipld_encoding::to_vec(&built).unwrap(), bytes, "{what}");
            }
        }
        other => unreachable!("{what}: {other} is not in METHODS"),
    }
}

// ---- the vector inputs (camelCase JSON, CIDs as strings, bytes as hex) as the actors' values

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or_else(|| panic!("input has no {name:?}: {v}"))
}
fn uint(v: &Value, name: &str) -> u64 {
    field(v, name).as_u64().unwrap_or_else(|| panic!("{name} is not an unsigned integer: {v}"))
}
fn int(v: &Value, name: &str) -> i64 {
    field(v, name).as_i64().unwrap_or_else(|| panic!("{name} is not an integer: {v}"))
}
fn boolean(v: &Value, name: &str) -> bool {
    field(v, name).as_bool().unwrap_or_else(|| panic!("{name} is not a boolean: {v}"))
}
fn list<'a>(v: &'a Value, name: &str) -> &'a Vec<Value> {
    field(v, name).as_array().unwrap_or_else(|| panic!("{name} is not a list: {v}"))
}
fn cid(v: &Value) -> Cid {
    let text = v.as_str().unwrap_or_else(|| panic!("not a CID string: {v}"));
    Cid::try_from(text).unwrap_or_else(|e| panic!("bad CID {text}: {e}"))
}
fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"))).expect("hex")
}

fn precommit(input: &Value) -> miner::PreCommitSectorBatchParams2 {
    miner::PreCommitSectorBatchParams2 {
        sectors: list(input, "sectors")
            .iter()
            .map(|s| miner::SectorPreCommitInfo {
                seal_proof: RegisteredSealProof::from(int(s, "sealProof")),
                sector_number: uint(s, "sectorNumber"),
                sealed_cid: cid(field(s, "sealedCid")),
                seal_rand_epoch: int(s, "sealRandEpoch"),
                deal_ids: list(s, "dealIds").iter().map(|d| d.as_u64().unwrap()).collect(),
                expiration: int(s, "expiration"),
                unsealed_cid: miner::CompactCommD::new(match field(s, "unsealedCid") {
                    Value::Null => None,
                    c => Some(cid(c)),
                }),
            })
            .collect(),
    }
}

fn pieces(v: &Value) -> Vec<miner::PieceActivationManifest> {
    list(v, "pieces")
        .iter()
        .map(|p| miner::PieceActivationManifest {
            cid: cid(field(p, "cid")),
            size: PaddedPieceSize(uint(p, "size")),
            verified_allocation_key: match field(p, "verifiedAllocationKey") {
                Value::Null => None,
                k => Some(miner::VerifiedAllocationKey {
                    client: uint(k, "client"),
                    id: uint(k, "id"),
                }),
            },
            notify: list(p, "notify")
                .iter()
                .map(|n| miner::DataActivationNotification {
                    address: Address::from_bytes(&bytes(field(n, "address"))).expect("address"),
                    payload: RawBytes::new(bytes(field(n, "payload"))),
                })
                .collect(),
        })
        .collect()
}

fn proofs(v: &Value) -> Vec<RawBytes> {
    list(v, "sectorProofs").iter().map(|p| RawBytes::new(bytes(p))).collect()
}

fn aggregate_type(v: &Value) -> Option<RegisteredAggregateProof> {
    match field(v, "aggregateProofType") {
        Value::Null => None,
        t => Some(RegisteredAggregateProof::from(t.as_i64().expect("aggregateProofType"))),
    }
}

fn prove_commit(input: &Value) -> miner::ProveCommitSectors3Params {
    miner::ProveCommitSectors3Params {
        sector_activations: list(input, "sectorActivations")
            .iter()
            .map(|a| miner::SectorActivationManifest {
                sector_number: uint(a, "sectorNumber"),
                pieces: pieces(a),
            })
            .collect(),
        sector_proofs: proofs(input),
        aggregate_proof: RawBytes::new(bytes(field(input, "aggregateProof"))),
        aggregate_proof_type: aggregate_type(input),
        require_activation_success: boolean(input, "requireActivationSuccess"),
        require_notification_success: boolean(input, "requireNotificationSuccess"),
    }
}

fn replica_updates(input: &Value) -> miner::ProveReplicaUpdates3Params {
    miner::ProveReplicaUpdates3Params {
        sector_updates: list(input, "sectorUpdates")
            .iter()
            .map(|u| miner::SectorUpdateManifest {
                sector: uint(u, "sector"),
                deadline: uint(u, "deadline"),
                partition: uint(u, "partition"),
                new_sealed_cid: cid(field(u, "newSealedCid")),
                pieces: pieces(u),
            })
            .collect(),
        sector_proofs: proofs(input),
        aggregate_proof: RawBytes::new(bytes(field(input, "aggregateProof"))),
        update_proofs_type: RegisteredUpdateProof::from(int(input, "updateProofsType")),
        aggregate_proof_type: aggregate_type(input),
        require_activation_success: boolean(input, "requireActivationSuccess"),
        require_notification_success: boolean(input, "requireNotificationSuccess"),
    }
}

// ---- the vector files

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/chain/vectors")
}

/// The method a `.hex` file's name names: `<Method>.hex`, `<Method>.<case>.hex` or `<Method>-<case>.hex`.
fn hex_file_method(name: &str) -> Option<&'static str> {
    let stem = name.strip_suffix(".hex")?;
    let method = stem.split_once(['.', '-']).map_or(stem, |(m, _)| m);
    METHODS.iter().map(|(m, _)| *m).find(|m| *m == method)
}

#[test]
fn every_vector_decodes_and_encodes_with_the_actors_types() {
    let dir = vectors_dir();
    // (vector, method) of every vector checked
    let mut checked: Vec<(String, &str)> = Vec::new();
    // vectors of something else than the params of a method we send (e.g. return values)
    let mut skipped: Vec<String> = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if name.ends_with(".json") {
            let file: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let Some(vectors) = file.get("vectors").and_then(Value::as_array) else {
                continue;
            };
            for v in vectors {
                let what = format!("{name} {}", v["name"]);
                let method = v["method"].as_str().unwrap_or_else(|| panic!("{what}: no method"));
                let Some(&(method, num)) = METHODS.iter().find(|(m, _)| *m == method) else {
                    skipped.push(what);
                    continue;
                };
                if let Some(given) = v.get("methodNum").and_then(Value::as_u64) {
                    assert_eq!(given, num, "{what}: {method} is method {num}");
                }
                let hex_text = v["hex"].as_str().unwrap_or_else(|| panic!("{what}: no hex"));
                let bytes = hex::decode(hex_text).unwrap_or_else(|e| panic!("{what}: {e}"));
                check(&what, method, &bytes, v.get("input"));
                checked.push((what, method));
            }
        } else if let Some(method) = hex_file_method(&name) {
            let text: String = fs::read_to_string(&path)
                .unwrap()
                .split_whitespace()
                .collect();
            let bytes = hex::decode(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            check(&name, method, &bytes, None);
            checked.push((name, method));
        }
    }
    eprintln!(
        "checked {} vectors: {}",
        checked.len(),
        checked.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join(", ")
    );
    if !skipped.is_empty() {
        eprintln!("not miner params, not checked: {}", skipped.join(", "));
    }
    // Every method we send has vectors: a method without one would go unchecked.
    for &(method, _) in METHODS {
        assert!(
            checked.iter().any(|(_, m)| *m == method),
            "no vector for {method} in {}",
            dir.display()
        );
    }
}

#[test]
fn a_wrong_layout_is_refused_by_the_actors_types() {
    // A FaultDeclaration (deadline 1, partition 0, no sectors) the actor's way, then without its sectors field.
    let good = hex::decode("818183010040").unwrap();
    round_trip::<miner::DeclareFaultsParams>("good", &good);
    let short = hex::decode("8181820100").unwrap();
    assert!(fvm_ipld_encoding::from_slice::<miner::DeclareFaultsParams>(&short).is_err());
    // The deadline as a non-minimal integer head: refused, or re-encoded differently: either way not accepted.
    let loose = hex::decode("81818318010040").unwrap();
    let result = std::panic::catch_unwind(|| {
        round_trip::<miner::DeclareFaultsParams>("loose", &loose);
    });
    assert!(result.is_err());
}

#[test]
fn hex_files_are_named_for_their_method() {
    assert_eq!(hex_file_method("SubmitWindowedPoSt.hex"), Some("SubmitWindowedPoSt"));
    assert_eq!(hex_file_method("DeclareFaults-two-partitions.hex"), Some("DeclareFaults"));
    assert_eq!(hex_file_method("DeclareFaults.declare-faults.hex"), Some("DeclareFaults"));
    assert_eq!(hex_file_method("DeclareFaultsRecovered-one.hex"), Some("DeclareFaultsRecovered"));
    assert_eq!(hex_file_method("BatchReturn.hex"), None);
    assert_eq!(hex_file_method("miner-params.json"), None);
}
