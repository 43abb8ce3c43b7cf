//! Local Groth16 parameter generation (what rust-fil-proofs' `paramcache` does), written into
//! `FIL_PROOFS_PARAMETER_CACHE`. The files are self-consistent (our seal -> our verify) but are
//! NOT the official Filecoin parameters: proofs made with them are rejected by any real network.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use filecoin_proofs::constants::{DefaultPieceHasher, SectorShapeBase};
use filecoin_proofs::parameters::public_params;
use filecoin_proofs::types::PoRepConfig;
use rand::rngs::OsRng;
use storage_proofs_core::api_version::ApiVersion;
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::merkle::MerkleTreeTrait;
use storage_proofs_core::parameter_cache::{parameter_cache_dir, CacheableParameters};
use storage_proofs_porep::stacked::{StackedCompound, StackedDrg};
use storage_proofs_update::{
    EmptySectorUpdate, EmptySectorUpdateCircuit, EmptySectorUpdateCompound,
    PublicParams as UpdatePublicParams,
};

fn parse_size(s: &str) -> Result<u64> {
    Ok(match s {
        "2KiB" | "2k" | "2K" => 2 << 10,
        "8MiB" | "8M" => 8 << 20,
        "512MiB" | "512M" => 512 << 20,
        other => other
            .parse::<u64>()
            .with_context(|| format!("bad sector size {other:?} (use 2KiB, 8MiB, 512MiB or bytes)"))?,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let mut sizes = Vec::new();
    let mut update = true;
    let mut porep = true;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sector-size" | "-z" => {
                i += 1;
                let v = args.get(i).context("--sector-size needs a value")?;
                for part in v.split(',') {
                    sizes.push(parse_size(part)?);
                }
            }
            "--no-update" => update = false,
            "--only-update" => porep = false,
            other => bail!("unknown paramgen argument {other:?}"),
        }
        i += 1;
    }
    if sizes.is_empty() {
        bail!("paramgen: --sector-size is required");
    }
    log::info!("parameter cache dir: {}", parameter_cache_dir().display());
    for size in sizes {
        match size {
            // 2KiB, 8MiB and 512MiB share one tree shape (oct tree, 8-0-0).
            s if s == 2 << 10 || s == 8 << 20 || s == 512 << 20 => {
                if porep {
                    gen_porep::<SectorShapeBase>(s)?;
                }
                if update {
                    gen_update::<SectorShapeBase>(s)?;
                }
            }
            other => bail!("paramgen supports 2KiB, 8MiB and 512MiB sectors only (got {other})"),
        }
    }
    Ok(())
}

fn gen_porep<Tree: 'static + MerkleTreeTrait>(sector_size: u64) -> Result<()> {
    let t = Instant::now();
    let config = PoRepConfig::new_groth16(sector_size, [0u8; 32], ApiVersion::V1_1_0);
    let pp = public_params::<Tree>(&config)?;
    log::info!("porep {sector_size}: generating params");

    let circuit = <StackedCompound<Tree, DefaultPieceHasher> as CompoundProof<
        StackedDrg<'_, Tree, DefaultPieceHasher>,
        _,
    >>::blank_circuit(&pp);
    <StackedCompound<Tree, DefaultPieceHasher> as CacheableParameters<_, _>>::get_param_metadata(
        circuit, &pp,
    )?;
    <StackedCompound<Tree, DefaultPieceHasher> as CompoundProof<
        StackedDrg<'_, Tree, DefaultPieceHasher>,
        _,
    >>::groth_params::<OsRng>(Some(&mut OsRng), &pp)?;
    <StackedCompound<Tree, DefaultPieceHasher> as CompoundProof<
        StackedDrg<'_, Tree, DefaultPieceHasher>,
        _,
    >>::verifying_key::<OsRng>(Some(&mut OsRng), &pp)?;
    log::info!("porep {sector_size}: done in {:.1}s", t.elapsed().as_secs_f64());
    eprintln!("paramgen porep {sector_size}: {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

fn gen_update<Tree>(sector_size: u64) -> Result<()>
where
    Tree: 'static + MerkleTreeTrait<Hasher = storage_proofs_update::constants::TreeRHasher>,
{
    let t = Instant::now();
    let pp = UpdatePublicParams::from_sector_size(sector_size);
    log::info!("update {sector_size}: generating params");
    let circuit = <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::blank_circuit(&pp);
    <EmptySectorUpdateCompound<Tree> as CacheableParameters<_, _>>::get_param_metadata(circuit, &pp)?;
    <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::groth_params::<OsRng>(Some(&mut OsRng), &pp)?;
    <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::verifying_key::<OsRng>(Some(&mut OsRng), &pp)?;
    eprintln!("paramgen update {sector_size}: {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}
