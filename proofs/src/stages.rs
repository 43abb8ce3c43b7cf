//! Task / output JSON per stage, in the shapes of src/core/wire/processor.ts (damocles' shapes).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use filecoin_proofs_api::seal::{
    self, SealCommitPhase1Output, SealPreCommitPhase1Output, SealPreCommitPhase2Output,
};
use filecoin_proofs_api::update;
use filecoin_proofs_api::{
    Commitment, PartitionProofBytes, PieceInfo, ProverId, RegisteredSealProof,
    RegisteredUpdateProof, SectorId, Ticket, UnpaddedBytesAmount,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::post;

pub const STAGES: &[&str] = &[
    "add_pieces",
    "tree_d",
    "pc1",
    "pc2",
    "c1",
    "c2",
    "snap_encode",
    "snap_partition_proofs",
    "snap_prove",
    "verify_seal",
    "verify_snap",
    "piece_commitment",
    "window_post",
    "verify_window_post",
];

pub fn handle(stage: &str, task: Value) -> Result<Value> {
    fn parse<T: serde::de::DeserializeOwned>(task: Value) -> Result<T> {
        serde_json::from_value(task).context("invalid task json")
    }
    let out = match stage {
        "add_pieces" => serde_json::to_value(add_pieces(parse(task)?)?)?,
        "tree_d" => serde_json::to_value(tree_d(parse(task)?)?)?,
        "pc1" => serde_json::to_value(pc1(parse(task)?)?)?,
        "pc2" => serde_json::to_value(pc2(parse(task)?)?)?,
        "c1" => serde_json::to_value(c1(parse(task)?)?)?,
        "c2" => serde_json::to_value(c2(parse(task)?)?)?,
        "snap_encode" => serde_json::to_value(snap_encode(parse(task)?)?)?,
        "snap_partition_proofs" => serde_json::to_value(snap_partition_proofs(parse(task)?)?)?,
        "snap_prove" => serde_json::to_value(snap_prove(parse(task)?)?)?,
        "verify_seal" => serde_json::to_value(verify_seal(parse(task)?)?)?,
        "verify_snap" => serde_json::to_value(verify_snap(parse(task)?)?)?,
        "piece_commitment" => serde_json::to_value(piece_commitment(parse(task)?)?)?,
        "window_post" => serde_json::to_value(post::window_post(parse(task)?)?)?,
        "verify_window_post" => serde_json::to_value(post::verify_window_post(parse(task)?)?)?,
        other => bail!("unsupported stage {other}"),
    };
    Ok(out)
}

fn sector_size(p: RegisteredSealProof) -> u64 {
    u64::from(p.sector_size())
}

/// Unpadded bytes of a padded size (fr32: 127 of every 128 bytes).
fn unpadded(padded: u64) -> u64 {
    padded - padded / 128
}

// ------------------------------------------------------------------------------------------------
// add_pieces

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PieceFile {
    Url(String),
    Local(PathBuf),
    Pledge,
}

#[derive(Deserialize)]
pub struct AddPiece {
    pub piece_file: PieceFile,
    pub payload_size: u64,
    /// unpadded piece size
    pub piece_size: u64,
}

#[derive(Deserialize)]
pub struct AddPiecesTask {
    pub seal_proof_type: RegisteredSealProof,
    pub pieces: Vec<AddPiece>,
    pub staged_filepath: PathBuf,
}

fn add_pieces(t: AddPiecesTask) -> Result<Vec<PieceInfo>> {
    let mut staged = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&t.staged_filepath)
        .with_context(|| format!("open staged file {:?}", t.staged_filepath))?;

    let mut pieces: Vec<AddPiece> = t.pieces;
    if pieces.is_empty() {
        // CC sector: one all-zero piece of the full unpadded sector size.
        let size = unpadded(sector_size(t.seal_proof_type));
        pieces.push(AddPiece {
            piece_file: PieceFile::Pledge,
            payload_size: size,
            piece_size: size,
        });
    }

    let mut infos = Vec::with_capacity(pieces.len());
    for p in pieces {
        ensure!(p.payload_size <= p.piece_size, "payload_size > piece_size");
        let source: Box<dyn Read> = match &p.piece_file {
            PieceFile::Pledge => Box::new(io::repeat(0).take(p.piece_size)),
            PieceFile::Local(path) => {
                let f = File::open(path).with_context(|| format!("open piece {path:?}"))?;
                // NUL-pad a payload shorter than the piece (damocles' Inflator).
                Box::new(f.take(p.payload_size).chain(io::repeat(0)).take(p.piece_size))
            }
            PieceFile::Url(url) => bail!("piece_file url {url:?}: remote pieces are not supported by this processor; fetch to a local file first"),
        };
        let (info, _written) = seal::write_and_preprocess(
            t.seal_proof_type,
            source,
            &mut staged,
            UnpaddedBytesAmount(p.piece_size),
        )
        .context("write_and_preprocess")?;
        infos.push(info);
    }
    staged.sync_all()?;
    Ok(infos)
}

// ------------------------------------------------------------------------------------------------
// tree_d

#[derive(Deserialize)]
pub struct TreeDTask {
    pub registered_proof: RegisteredSealProof,
    pub staged_file: PathBuf,
    pub cache_dir: PathBuf,
}

/// Builds tree_d (`sc-02-data-tree-d.dat`) of the staged file in cache_dir, like damocles' tree_d
/// processor. PC1 in filecoin-proofs 19 rebuilds tree_d itself, so this stage is for CommD/warm-up.
fn tree_d(t: TreeDTask) -> Result<bool> {
    use filecoin_proofs::constants::DefaultPieceHasher;
    use filecoin_proofs::StoreConfig;
    use storage_proofs_core::cache_key::CacheKey;
    use storage_proofs_core::merkle::{create_base_merkle_tree, BinaryMerkleTree};

    let size = sector_size(t.registered_proof) as usize;
    fs::create_dir_all(&t.cache_dir)?;
    let leafs = size / 32;

    let f = File::open(&t.staged_file).with_context(|| format!("open {:?}", t.staged_file))?;
    let len = f.metadata()?.len() as usize;
    ensure!(
        len <= size,
        "staged file {:?} is larger than the sector ({len} > {size})",
        t.staged_file
    );
    let config = StoreConfig::new(&t.cache_dir, CacheKey::CommDTree.to_string(), 0);
    let tree_path = StoreConfig::data_path(&config.path, &config.id);
    if tree_path.exists() {
        fs::remove_file(&tree_path)?;
    }
    if len == size {
        let map = unsafe { memmap2::MmapOptions::new().map(&f) }?;
        create_base_merkle_tree::<BinaryMerkleTree<DefaultPieceHasher>>(Some(config), leafs, &map)?;
    } else {
        let mut buf = Vec::with_capacity(size);
        (&f).read_to_end(&mut buf)?;
        buf.resize(size, 0);
        create_base_merkle_tree::<BinaryMerkleTree<DefaultPieceHasher>>(Some(config), leafs, &buf)?;
    }
    Ok(true)
}

// ------------------------------------------------------------------------------------------------
// pc1 / pc2 / c1 / c2

#[derive(Deserialize)]
pub struct PC1Task {
    pub registered_proof: RegisteredSealProof,
    pub cache_path: PathBuf,
    pub in_path: PathBuf,
    pub out_path: PathBuf,
    pub prover_id: ProverId,
    pub sector_id: u64,
    pub ticket: Ticket,
    pub piece_infos: Vec<PieceInfo>,
}

fn ensure_file(p: &Path) -> Result<()> {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d)?;
    }
    if !p.exists() {
        File::create(p).with_context(|| format!("create {p:?}"))?;
    }
    Ok(())
}

fn pc1(t: PC1Task) -> Result<SealPreCommitPhase1Output> {
    fs::create_dir_all(&t.cache_path)?;
    ensure_file(&t.out_path)?;
    seal::seal_pre_commit_phase1(
        t.registered_proof,
        &t.cache_path,
        &t.in_path,
        &t.out_path,
        t.prover_id,
        SectorId::from(t.sector_id),
        t.ticket,
        &t.piece_infos,
    )
}

#[derive(Deserialize)]
pub struct PC2Task {
    pub pc1out: SealPreCommitPhase1Output,
    pub cache_dir: PathBuf,
    pub sealed_file: PathBuf,
}

fn pc2(t: PC2Task) -> Result<SealPreCommitPhase2Output> {
    seal::seal_pre_commit_phase2(t.pc1out, &t.cache_dir, &t.sealed_file)
}

#[derive(Deserialize)]
pub struct C1Task {
    pub registered_proof: RegisteredSealProof,
    pub cache_path: PathBuf,
    pub replica_path: PathBuf,
    pub prover_id: ProverId,
    pub sector_id: u64,
    pub ticket: Ticket,
    pub seed: Ticket,
    pub comm_r: Commitment,
    pub comm_d: Commitment,
    pub piece_infos: Vec<PieceInfo>,
}

fn c1(t: C1Task) -> Result<SealCommitPhase1Output> {
    seal::seal_commit_phase1(
        &t.cache_path,
        &t.replica_path,
        t.prover_id,
        SectorId::from(t.sector_id),
        t.ticket,
        t.seed,
        SealPreCommitPhase2Output {
            registered_proof: t.registered_proof,
            comm_r: t.comm_r,
            comm_d: t.comm_d,
        },
        &t.piece_infos,
    )
}

#[derive(Deserialize)]
pub struct C2Task {
    pub c1out: SealCommitPhase1Output,
    pub prover_id: ProverId,
    pub sector_id: u64,
    #[allow(dead_code)]
    pub miner_id: u64,
}

#[derive(Serialize)]
pub struct C2Output {
    pub proof: Vec<u8>,
}

fn c2(t: C2Task) -> Result<C2Output> {
    let out = seal::seal_commit_phase2(t.c1out, t.prover_id, SectorId::from(t.sector_id))?;
    Ok(C2Output { proof: out.proof })
}

// ------------------------------------------------------------------------------------------------
// verify_seal

#[derive(Deserialize)]
pub struct VerifySealTask {
    pub registered_proof: RegisteredSealProof,
    pub comm_r: Commitment,
    pub comm_d: Commitment,
    pub prover_id: ProverId,
    pub sector_id: u64,
    pub ticket: Ticket,
    pub seed: Ticket,
    pub proof: Vec<u8>,
}

fn verify_seal(t: VerifySealTask) -> Result<bool> {
    seal::verify_seal(
        t.registered_proof,
        t.comm_r,
        t.comm_d,
        t.prover_id,
        SectorId::from(t.sector_id),
        t.ticket,
        t.seed,
        &t.proof,
    )
}

// ------------------------------------------------------------------------------------------------
// snap (empty sector update)

#[derive(Deserialize)]
pub struct SnapEncodeTask {
    pub registered_proof: RegisteredUpdateProof,
    pub new_replica_path: PathBuf,
    pub new_cache_path: PathBuf,
    pub sector_path: PathBuf,
    pub sector_cache_path: PathBuf,
    pub staged_data_path: PathBuf,
    pub piece_infos: Vec<PieceInfo>,
}

#[derive(Serialize)]
pub struct SnapEncodeOutput {
    pub comm_r_new: Commitment,
    pub comm_r_last_new: Commitment,
    pub comm_d_new: Commitment,
}

fn snap_encode(t: SnapEncodeTask) -> Result<SnapEncodeOutput> {
    fs::create_dir_all(&t.new_cache_path)?;
    ensure_file(&t.new_replica_path)?;
    // The library requires the new replica to have the sector key's size already.
    let sector_len = fs::metadata(&t.sector_path)
        .with_context(|| format!("stat sector {:?}", t.sector_path))?
        .len();
    OpenOptions::new()
        .write(true)
        .open(&t.new_replica_path)?
        .set_len(sector_len)?;
    let out = update::empty_sector_update_encode_into(
        t.registered_proof,
        &t.new_replica_path,
        &t.new_cache_path,
        &t.sector_path,
        &t.sector_cache_path,
        &t.staged_data_path,
        &t.piece_infos,
    )?;
    Ok(SnapEncodeOutput {
        comm_r_new: out.comm_r_new,
        comm_r_last_new: out.comm_r_last_new,
        comm_d_new: out.comm_d_new,
    })
}

#[derive(Deserialize)]
pub struct SnapPartitionProofsTask {
    pub registered_proof: RegisteredUpdateProof,
    pub comm_r_old: Commitment,
    pub comm_r_new: Commitment,
    pub comm_d_new: Commitment,
    pub sector_path: PathBuf,
    pub sector_cache_path: PathBuf,
    pub new_replica_path: PathBuf,
    pub new_cache_path: PathBuf,
}

fn snap_partition_proofs(t: SnapPartitionProofsTask) -> Result<Vec<Vec<u8>>> {
    let proofs = update::generate_partition_proofs(
        t.registered_proof,
        t.comm_r_old,
        t.comm_r_new,
        t.comm_d_new,
        &t.sector_path,
        &t.sector_cache_path,
        &t.new_replica_path,
        &t.new_cache_path,
    )?;
    Ok(proofs.into_iter().map(|p| p.0).collect())
}

#[derive(Deserialize)]
pub struct SnapProveTask {
    pub registered_proof: RegisteredUpdateProof,
    pub vannilla_proofs: Vec<Vec<u8>>,
    pub comm_r_old: Commitment,
    pub comm_r_new: Commitment,
    pub comm_d_new: Commitment,
}

fn snap_prove(t: SnapProveTask) -> Result<Vec<u8>> {
    let vanilla = t
        .vannilla_proofs
        .into_iter()
        .map(PartitionProofBytes)
        .collect();
    let proof = update::generate_empty_sector_update_proof_with_vanilla(
        t.registered_proof,
        vanilla,
        t.comm_r_old,
        t.comm_r_new,
        t.comm_d_new,
    )?;
    Ok(proof.0)
}

#[derive(Deserialize)]
pub struct VerifySnapTask {
    pub registered_proof: RegisteredUpdateProof,
    pub comm_r_old: Commitment,
    pub comm_r_new: Commitment,
    pub comm_d_new: Commitment,
    pub proof: Vec<u8>,
}

fn verify_snap(t: VerifySnapTask) -> Result<bool> {
    update::verify_empty_sector_update_proof(
        t.registered_proof,
        &t.proof,
        t.comm_r_old,
        t.comm_r_new,
        t.comm_d_new,
    )
}

// ------------------------------------------------------------------------------------------------
// piece_commitment

#[derive(Deserialize)]
pub struct PieceCommitmentTask {
    pub piece_file: PathBuf,
}

#[derive(Serialize)]
pub struct PieceCommitmentOutput {
    pub commitment: Commitment,
    pub padded_size: u64,
    pub payload_size: u64,
}

/// CommP of a payload file, NUL-padded to the smallest power-of-two piece (min 128 B padded).
///
/// The zeros are not hashed: the payload is cut into parts of non-increasing power-of-two sizes (each aligned
/// to its own size, so the layout is the payload's own), and the proofs library folds their commitments with
/// zero subtrees up to the piece size. A payload just over a power of two would otherwise cost twice its size.
/// Parts are at most an eighth of the piece, so they hash in parallel, each thread reading its own range.
fn piece_commitment(t: PieceCommitmentTask) -> Result<PieceCommitmentOutput> {
    let payload_size = fs::metadata(&t.piece_file)
        .with_context(|| format!("open {:?}", t.piece_file))?
        .len();
    let mut padded_size: u64 = 128;
    while unpadded(padded_size) < payload_size {
        padded_size = padded_size
            .checked_mul(2)
            .ok_or_else(|| anyhow!("payload too large"))?;
    }
    let max_part = (padded_size / 8).max(128);
    // (offset in the payload, payload bytes, padded part size)
    let mut plan = Vec::new();
    let mut offset = 0;
    while offset < payload_size {
        let left = payload_size - offset;
        let mut part: u64 = 128;
        while part < max_part && unpadded(part * 2) <= left {
            part *= 2;
        }
        let take = left.min(unpadded(part));
        plan.push((offset, take, part));
        offset += take;
    }
    let hash_part = |&(offset, take, part): &(u64, u64, u64)| -> Result<PieceInfo> {
        let mut f =
            File::open(&t.piece_file).with_context(|| format!("open {:?}", t.piece_file))?;
        io::Seek::seek(&mut f, io::SeekFrom::Start(offset))?;
        // Only the last part can be short of its size; the zeros that fill it are the payload's own padding.
        let source = io::BufReader::with_capacity(1 << 20, f)
            .take(take)
            .chain(io::repeat(0))
            .take(unpadded(part));
        // The proof type only selects the v1 implementation; CommP does not depend on the sector size.
        Ok(seal::generate_piece_commitment(
            RegisteredSealProof::StackedDrg64GiBV1_1,
            source,
            UnpaddedBytesAmount(unpadded(part)),
        )?)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(plan.len().max(1));
    let parts = std::thread::scope(|scope| -> Result<Vec<PieceInfo>> {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let plan = &plan;
                scope.spawn(move || -> Result<Vec<(usize, PieceInfo)>> {
                    (i..plan.len())
                        .step_by(threads)
                        .map(|k| Ok((k, hash_part(&plan[k])?)))
                        .collect()
                })
            })
            .collect();
        let mut done = Vec::new();
        for w in workers {
            done.extend(
                w.join()
                    .map_err(|_| anyhow!("piece_commitment worker thread panicked"))??,
            );
        }
        done.sort_by_key(|(k, _)| *k);
        Ok(done.into_iter().map(|(_, info)| info).collect())
    })?;
    let commitment = match parts.as_slice() {
        [] => {
            seal::generate_piece_commitment(
                RegisteredSealProof::StackedDrg64GiBV1_1,
                io::repeat(0).take(unpadded(padded_size)),
                UnpaddedBytesAmount(unpadded(padded_size)),
            )?
            .commitment
        }
        [only] if u64::from(only.size) == unpadded(padded_size) => only.commitment,
        _ => filecoin_proofs::compute_comm_d(filecoin_proofs::SectorSize(padded_size), &parts)?,
    };
    Ok(PieceCommitmentOutput {
        commitment,
        padded_size,
        payload_size,
    })
}
