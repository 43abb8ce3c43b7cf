//! Local Groth16 parameter generation (what rust-fil-proofs' `paramcache` does), written into
//! `FIL_PROOFS_PARAMETER_CACHE`. The files are self-consistent (our seal -> our verify) but are
//! NOT the official Filecoin parameters: proofs made with them are rejected by any real network.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use filecoin_proofs::constants::{DefaultPieceHasher, SectorShapeBase};
use filecoin_proofs::parameters::{public_params, window_post_public_params};
use filecoin_proofs::types::{PoRepConfig, PoStConfig};
use filecoin_proofs_api::RegisteredPoStProof;
use rand::rngs::OsRng;
use storage_proofs_core::api_version::ApiVersion;
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::merkle::MerkleTreeTrait;
use storage_proofs_core::parameter_cache::{
    parameter_cache_dir, parameter_cache_params_path, parameter_cache_verifying_key_path,
    CacheableParameters,
};
use storage_proofs_porep::stacked::{StackedCircuit, StackedCompound, StackedDrg};
use storage_proofs_post::fallback::{FallbackPoSt, FallbackPoStCircuit, FallbackPoStCompound};
use storage_proofs_update::{
    EmptySectorUpdate, EmptySectorUpdateCircuit, EmptySectorUpdateCompound,
    PublicParams as UpdatePublicParams,
};

fn parse_size(s: &str) -> Result<u64> {
    Ok(match s {
        "2KiB" | "2k" | "2K" => 2 << 10,
        "8MiB" | "8M" => 8 << 20,
        "512MiB" | "512M" => 512 << 20,
        other => other.parse::<u64>().with_context(|| {
            format!("bad sector size {other:?} (use 2KiB, 8MiB, 512MiB or bytes)")
        })?,
    })
}

struct Selection {
    sizes: Vec<u64>,
    porep: bool,
    update: bool,
    window_post: bool,
}

fn parse_args(cmd: &str, args: &[String]) -> Result<Selection> {
    let mut sel = Selection {
        sizes: Vec::new(),
        porep: true,
        update: true,
        window_post: true,
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sector-size" | "-z" => {
                i += 1;
                let v = args.get(i).context("--sector-size needs a value")?;
                for part in v.split(',') {
                    sel.sizes.push(parse_size(part)?);
                }
            }
            "--no-update" => sel.update = false,
            "--only-update" => {
                sel.porep = false;
                sel.window_post = false;
            }
            "--only" => {
                i += 1;
                let kind = args.get(i).context("--only needs a kind: porep, update or window-post")?;
                sel.porep = kind == "porep";
                sel.update = kind == "update";
                sel.window_post = kind == "window-post";
                if !(sel.porep || sel.update || sel.window_post) {
                    bail!("--only {kind:?}: expected porep, update or window-post");
                }
            }
            other => bail!("unknown {cmd} argument {other:?}"),
        }
        i += 1;
    }
    if sel.sizes.is_empty() {
        bail!("{cmd}: --sector-size is required");
    }
    for size in &sel.sizes {
        // 2KiB, 8MiB and 512MiB share one tree shape (oct tree, 8-0-0), the only one built here.
        if ![2 << 10, 8 << 20, 512 << 20].contains(size) {
            bail!("{cmd} supports 2KiB, 8MiB and 512MiB sectors only (got {size})");
        }
    }
    Ok(sel)
}

pub fn run(args: &[String]) -> Result<()> {
    let sel = parse_args("paramgen", args)?;
    log::info!("parameter cache dir: {}", parameter_cache_dir().display());
    for &size in &sel.sizes {
        if sel.porep {
            gen_porep::<SectorShapeBase>(size)?;
        }
        if sel.update {
            gen_update::<SectorShapeBase>(size)?;
        }
        if sel.window_post {
            gen_window_post::<SectorShapeBase>(size)?;
        }
    }
    Ok(())
}

/// `params`: the parameter and verifying-key files the selection needs in the parameter cache, as one
/// JSON object per line (`kind`, `sector_size`, `params`, `vk`, `present`). Returns whether all are there,
/// so callers can tell "ready to prove" without loading a gigabyte of parameters.
pub fn check(args: &[String]) -> Result<bool> {
    let sel = parse_args("params", args)?;
    let mut all = true;
    for &size in &sel.sizes {
        let mut ids = Vec::new();
        if sel.porep {
            let config = PoRepConfig::new_groth16(size, [0u8; 32], ApiVersion::V1_1_0);
            let pp = public_params::<SectorShapeBase>(&config)?;
            ids.push((
                "porep",
                <StackedCompound<SectorShapeBase, DefaultPieceHasher> as CacheableParameters<
                    StackedCircuit<SectorShapeBase, DefaultPieceHasher>,
                    _,
                >>::cache_identifier(&pp),
            ));
        }
        if sel.update {
            let pp = UpdatePublicParams::from_sector_size(size);
            ids.push((
                "update",
                <EmptySectorUpdateCompound<SectorShapeBase> as CacheableParameters<
                    EmptySectorUpdateCircuit<SectorShapeBase>,
                    _,
                >>::cache_identifier(&pp),
            ));
        }
        if sel.window_post {
            let pp = window_post_public_params::<SectorShapeBase>(&window_post_config(size)?)?;
            ids.push((
                "window_post",
                <FallbackPoStCompound<SectorShapeBase> as CacheableParameters<
                    FallbackPoStCircuit<SectorShapeBase>,
                    _,
                >>::cache_identifier(&pp),
            ));
        }
        for (kind, id) in ids {
            let params = parameter_cache_params_path(&id);
            let vk = parameter_cache_verifying_key_path(&id);
            let present = params.is_file() && vk.is_file();
            all &= present;
            println!(
                "{}",
                serde_json::json!({ "kind": kind, "sector_size": size, "params": params, "vk": vk, "present": present })
            );
        }
    }
    Ok(all)
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
    log::info!(
        "porep {sector_size}: done in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    eprintln!(
        "paramgen porep {sector_size}: {:.1}s",
        t.elapsed().as_secs_f64()
    );
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
    <EmptySectorUpdateCompound<Tree> as CacheableParameters<_, _>>::get_param_metadata(
        circuit, &pp,
    )?;
    <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::groth_params::<OsRng>(Some(&mut OsRng), &pp)?;
    <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::verifying_key::<OsRng>(Some(&mut OsRng), &pp)?;
    eprintln!(
        "paramgen update {sector_size}: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The WindowPoSt configuration the chain's proof type (V1_1 on chain, `V1_2` in the proofs API) selects.
fn window_post_config(sector_size: u64) -> Result<PoStConfig> {
    use RegisteredPoStProof::*;
    let proof = match sector_size {
        2048 => StackedDrgWindow2KiBV1_2,
        8388608 => StackedDrgWindow8MiBV1_2,
        536870912 => StackedDrgWindow512MiBV1_2,
        other => bail!("no WindowPoSt proof type for sector size {other}"),
    };
    Ok(proof.as_v1_config())
}

fn gen_window_post<Tree: 'static + MerkleTreeTrait>(sector_size: u64) -> Result<()> {
    let t = Instant::now();
    let pp = window_post_public_params::<Tree>(&window_post_config(sector_size)?)?;
    log::info!("window_post {sector_size}: generating params");
    let circuit = <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<'_, Tree>,
        FallbackPoStCircuit<Tree>,
    >>::blank_circuit(&pp);
    <FallbackPoStCompound<Tree> as CacheableParameters<_, _>>::get_param_metadata(circuit, &pp)?;
    <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<'_, Tree>,
        FallbackPoStCircuit<Tree>,
    >>::groth_params::<OsRng>(Some(&mut OsRng), &pp)?;
    <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<'_, Tree>,
        FallbackPoStCircuit<Tree>,
    >>::verifying_key::<OsRng>(Some(&mut OsRng), &pp)?;
    eprintln!(
        "paramgen window_post {sector_size}: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
