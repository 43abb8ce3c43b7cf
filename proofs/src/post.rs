//! WindowPoSt: `window_post` (generate, in damocles' task/output shape) and `verify_window_post` (ours: what
//! the actor's verify_post syscall does, for the devnet).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use filecoin_proofs_api::post;
use filecoin_proofs_api::{
    ChallengeSeed, Commitment, PoStType, PrivateReplicaInfo, ProverId, PublicReplicaInfo,
    RegisteredPoStProof, SectorId, StorageProofsError,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prover id of a miner: its ID address payload (uvarint of the actor id), zero-padded to 32 bytes.
pub fn prover_id(miner_id: u64) -> ProverId {
    let mut out = [0u8; 32];
    let mut n = miner_id;
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = byte;
            return out;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
}

/// The chain's randomness as a PoSt challenge seed: like the FVM (and lotus before calling the proofs library),
/// the top two bits are cleared so the seed is a valid BLS12-381 field element. Callers pass the chain's bytes.
fn challenge_seed(randomness: ChallengeSeed) -> ChallengeSeed {
    let mut seed = randomness;
    seed[31] &= 0x3f;
    seed
}

fn window_proof_type(p: RegisteredPoStProof) -> Result<RegisteredPoStProof> {
    ensure!(
        p.typ() == PoStType::Window,
        "proof_type {p:?} is not a WindowPoSt proof type (expected e.g. StackedDrgWindow2KiBV1_2)"
    );
    Ok(p)
}

fn b64_list_ser<S: Serializer>(proofs: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(proofs.iter().map(|p| B64.encode(p)))
}

fn b64_list_de<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .enumerate()
        .map(|(i, text)| {
            B64.decode(text)
                .map_err(|e| serde::de::Error::custom(format!("proofs[{i}] is not base64: {e}")))
        })
        .collect()
}

/// Sector ids in order, with one commitment each: a sector listed twice with the same commitment counts once
/// (the actor substitutes skipped sectors with a proven one, and the proofs library keys sectors by id), with
/// two different commitments it is an error.
fn by_sector<T>(
    items: impl IntoIterator<Item = (u64, Commitment, T)>,
) -> Result<BTreeMap<u64, (Commitment, T)>> {
    let mut out: BTreeMap<u64, (Commitment, T)> = BTreeMap::new();
    for (sector, comm_r, rest) in items {
        if let Some((seen, _)) = out.get(&sector) {
            ensure!(
                *seen == comm_r,
                "sector {sector} is listed twice with different comm_r"
            );
            continue;
        }
        out.insert(sector, (comm_r, rest));
    }
    ensure!(!out.is_empty(), "replicas is empty: nothing to prove");
    Ok(out)
}

#[derive(Deserialize)]
pub struct PoStReplica {
    pub sector_id: u64,
    pub comm_r: Commitment,
    pub cache_dir: PathBuf,
    pub sealed_file: PathBuf,
}

#[derive(Deserialize)]
pub struct WindowPoStTask {
    pub miner_id: u64,
    pub proof_type: RegisteredPoStProof,
    pub replicas: Vec<PoStReplica>,
    /// The chain's WindowPoSt challenge randomness.
    pub seed: ChallengeSeed,
}

#[derive(Serialize)]
pub struct WindowPoStOutput {
    /// One proof per proof type (always one here), covering every replica not in `faults`.
    #[serde(serialize_with = "b64_list_ser")]
    pub proofs: Vec<Vec<u8>>,
    /// Sectors that cannot be proven (files missing, unreadable, or not matching comm_r): to be skipped.
    pub faults: Vec<u64>,
}

/// Proves the replicas that can be proven and reports the others as faults rather than failing: each sector is
/// first checked by drawing its own challenges from its files, then the library may still find one faulty
/// while proving (a tree that does not match comm_r), which is dropped before proving the rest again.
pub fn window_post(t: WindowPoStTask) -> Result<WindowPoStOutput> {
    let proof_type = window_proof_type(t.proof_type)?;
    let seed = challenge_seed(t.seed);
    let prover = prover_id(t.miner_id);
    let replicas = by_sector(
        t.replicas
            .into_iter()
            .map(|r| (r.sector_id, r.comm_r, (r.cache_dir, r.sealed_file))),
    )?;
    let ids: Vec<SectorId> = replicas.keys().map(|&n| SectorId::from(n)).collect();
    let challenges = post::generate_fallback_sector_challenges(proof_type, &seed, &ids, prover)
        .context("generate_fallback_sector_challenges")?;

    let mut faults = BTreeSet::new();
    let mut good: BTreeMap<SectorId, PrivateReplicaInfo> = BTreeMap::new();
    for (&sector, (comm_r, (cache_dir, sealed_file))) in &replicas {
        let id = SectorId::from(sector);
        let info = PrivateReplicaInfo::new(proof_type, *comm_r, cache_dir.clone(), sealed_file.clone());
        let check = challenges
            .get(&id)
            .context("no challenges drawn for the sector")
            .and_then(|c| post::generate_single_vanilla_proof(proof_type, id, &info, c));
        match check {
            Ok(_) => {
                good.insert(id, info);
            }
            Err(e) => {
                log::warn!("window_post: sector {sector} is faulty: {e:#}");
                faults.insert(sector);
            }
        }
    }

    while !good.is_empty() {
        match post::generate_window_post(&seed, &good, prover) {
            Ok(proofs) => {
                return Ok(WindowPoStOutput {
                    proofs: proofs.into_iter().map(|(_, proof)| proof).collect(),
                    faults: faults.into_iter().collect(),
                })
            }
            Err(e) => {
                let found = match e.downcast_ref::<StorageProofsError>() {
                    Some(StorageProofsError::FaultySectors(found)) => found.clone(),
                    _ => Vec::new(),
                };
                // Only sectors still being proven can be dropped: anything else would prove the same set again.
                let dropped: Vec<SectorId> = found.into_iter().filter(|id| good.remove(id).is_some()).collect();
                if dropped.is_empty() {
                    return Err(e.context("generate_window_post"));
                }
                log::warn!("window_post: faulty while proving: {dropped:?}");
                faults.extend(dropped.into_iter().map(u64::from));
            }
        }
    }
    Ok(WindowPoStOutput {
        proofs: Vec::new(),
        faults: faults.into_iter().collect(),
    })
}

#[derive(Deserialize)]
pub struct PoStPublicReplica {
    pub sector_id: u64,
    pub comm_r: Commitment,
}

#[derive(Deserialize)]
pub struct VerifyWindowPoStTask {
    pub miner_id: u64,
    pub proof_type: RegisteredPoStProof,
    /// The sectors the proof must cover, as the actor lists them (skipped ones substituted or left out).
    pub replicas: Vec<PoStPublicReplica>,
    pub seed: ChallengeSeed,
    /// `proofs` of `window_post`: exactly one.
    #[serde(deserialize_with = "b64_list_de")]
    pub proofs: Vec<Vec<u8>>,
}

pub fn verify_window_post(t: VerifyWindowPoStTask) -> Result<bool> {
    let proof_type = window_proof_type(t.proof_type)?;
    let proof = match t.proofs.as_slice() {
        [one] => one,
        other => bail!(
            "proofs must hold exactly one proof (one proof type per submission), got {}",
            other.len()
        ),
    };
    let replicas: BTreeMap<SectorId, PublicReplicaInfo> = by_sector(
        t.replicas.into_iter().map(|r| (r.sector_id, r.comm_r, ())),
    )?
    .into_iter()
    .map(|(n, (comm_r, ()))| (SectorId::from(n), PublicReplicaInfo::new(proof_type, comm_r)))
    .collect();
    post::verify_window_post(
        &challenge_seed(t.seed),
        &[(proof_type, proof.as_slice())],
        &replicas,
        prover_id(t.miner_id),
    )
    .with_context(|| {
        let sectors: Vec<u64> = replicas.keys().map(|&id| u64::from(id)).collect();
        format!(
            "verify_window_post of a {}-byte proof for sectors {sectors:?}",
            proof.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prover_id_is_the_uvarint_of_the_actor_id() {
        assert_eq!(prover_id(0)[..2], [0, 0]);
        assert_eq!(prover_id(1000)[..3], [0xe8, 0x07, 0]);
        assert_eq!(prover_id(127)[..2], [0x7f, 0]);
        assert_eq!(prover_id(128)[..3], [0x80, 0x01, 0]);
    }

    #[test]
    fn seed_is_masked_to_a_field_element() {
        assert_eq!(challenge_seed([0xff; 32])[31], 0x3f);
        assert_eq!(challenge_seed([0xff; 32])[30], 0xff);
    }

    #[test]
    fn duplicates_collapse_and_conflicts_are_refused() {
        let m = by_sector([(2, [1; 32], ()), (1, [2; 32], ()), (2, [1; 32], ())]).unwrap();
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        let err = by_sector([(2, [1; 32], ()), (2, [3; 32], ())]).unwrap_err();
        assert!(format!("{err}").contains("sector 2"));
        assert!(by_sector(Vec::<(u64, Commitment, ())>::new()).is_err());
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let err = verify_window_post(
            serde_json::from_value(serde_json::json!({
                "miner_id": 1000, "proof_type": "StackedDrgWinning2KiBV1",
                "replicas": [{"sector_id": 1, "comm_r": vec![1u8; 32]}], "seed": vec![0u8; 32], "proofs": [""]
            }))
            .unwrap(),
        )
        .unwrap_err();
        assert!(format!("{err}").contains("StackedDrgWinning2KiBV1"), "{err}");
        let err = verify_window_post(
            serde_json::from_value(serde_json::json!({
                "miner_id": 1000, "proof_type": "StackedDrgWindow2KiBV1_2",
                "replicas": [{"sector_id": 1, "comm_r": vec![1u8; 32]}], "seed": vec![0u8; 32], "proofs": []
            }))
            .unwrap(),
        )
        .unwrap_err();
        assert!(format!("{err}").contains("exactly one"), "{err}");
        let bad = serde_json::from_value::<VerifyWindowPoStTask>(serde_json::json!({
            "miner_id": 1000, "proof_type": "StackedDrgWindow2KiBV1_2",
            "replicas": [], "seed": vec![0u8; 32], "proofs": ["!!"]
        }));
        assert!(bad.err().unwrap().to_string().contains("proofs[0] is not base64"));
    }
}
