//! Shared fixtures: a LiteSVM chain with the SPL programs and the compute-market program's sBPF
//! binary under the upgradeable loader, real SPL mints and token accounts, and helpers for every
//! protocol step; the vaults' and ledgers' checks are in `books.rs`.
#![allow(dead_code, deprecated)]

use anchor_lang::solana_program::{program_pack::Pack, system_instruction};
use anchor_spl::token_interface::spl_token_2022::{
    self, extension::ExtensionType, instruction as token_ix, state::Mint as MintState,
};
use compute_market::constants::{ELIGIBILITY_CAP_SLOTS, SEED_DELAY_SLOTS};
use compute_market::error::MarketError;
use compute_market_client::{
    self as client, ix, pda, Instruction, Job, JobPostArgs, Market, MarketConfig, MarketInitArgs,
    MarketRef, Provider, Pubkey, Settlement,
};
use litesvm::LiteSVM;
use solana_sdk::{
    account::Account,
    clock::Clock,
    instruction::InstructionError,
    signature::Keypair,
    signer::Signer,
    transaction::{Transaction, TransactionError},
};

pub use anchor_lang::error::ErrorCode as AnchorError;

mod books;

pub const SPL_TOKEN: Pubkey = anchor_spl::token::ID;
pub const TOKEN_2022: Pubkey = spl_token_2022::ID;
pub const SOL: u64 = 1_000_000_000;
/// Start of the test clock: a realistic unix time, so no deadline sits at zero.
pub const T0: i64 = 1_750_000_000;

/// The reward per replica most tests post with, and what [`config`] takes of it.
pub const REWARD: u64 = 10_000;
/// The protocol fee on one [`REWARD`]: 2.5%.
pub const FEE: u64 = 250;
/// Collateral per claim.
pub const COLLATERAL: u64 = 500;

pub fn config() -> MarketConfig {
    MarketConfig {
        min_stake: 1_000,
        collateral_per_claim: COLLATERAL,
        fee_bps: 250,
        slash_bounty_bps: 1_000,
        max_replicas: 5,
        claim_timeout: 60,
        default_commit_window: 600,
        max_commit_window: 3_600,
        reveal_window: 300,
        unstake_cooldown: 3_600,
    }
}

/// How to build the market under test.
#[derive(Clone, Copy)]
pub struct Options {
    pub token_program: Pubkey,
    /// The stake mint's token program when it differs from the payment mint's.
    pub stake_token_program: Option<Pubkey>,
    pub same_mint: bool,
    pub config: MarketConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_program: SPL_TOKEN,
            stake_token_program: None,
            same_mint: false,
            config: config(),
        }
    }
}

pub struct Env {
    pub svm: LiteSVM,
    /// Market authority and mint authority of both mints.
    pub admin: Keypair,
    /// Treasury wallet.
    pub treasury: Pubkey,
    pub market: MarketRef,
}

/// The custom error code of a failed transaction, if it has one.
pub fn custom_code(err: &TransactionError) -> Option<u32> {
    match err {
        TransactionError::InstructionError(_, InstructionError::Custom(c)) => Some(*c),
        _ => None,
    }
}

pub fn market_code(e: MarketError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + e as u32
}

#[track_caller]
pub fn assert_market_err<T: std::fmt::Debug>(r: Result<T, TransactionError>, e: MarketError) {
    let name = format!("{e:?}");
    let err = r.expect_err(&format!("expected {name}, the transaction succeeded"));
    assert_eq!(
        custom_code(&err),
        Some(market_code(e)),
        "expected {name}, got {err:?}"
    );
}

#[track_caller]
pub fn assert_anchor_err<T: std::fmt::Debug>(r: Result<T, TransactionError>, e: AnchorError) {
    let name = format!("{e:?}");
    let err = r.expect_err(&format!("expected {name}, the transaction succeeded"));
    assert_eq!(
        custom_code(&err),
        Some(e as u32),
        "expected {name}, got {err:?}"
    );
}

/// An SPL Token `Transfer`, as anyone may send one into a vault (for plain SPL Token mints).
pub fn token_transfer(from: &Pubkey, to: &Pubkey, owner: &Pubkey, amount: u64) -> Instruction {
    anchor_spl::token::spl_token::instruction::transfer(&SPL_TOKEN, from, to, owner, &[], amount)
        .unwrap()
}

/// A salt that differs per provider and job, as a worker would draw at random.
pub fn salt(tag: u8) -> [u8; 32] {
    [tag; 32]
}

impl Env {
    pub fn new() -> Self {
        Self::with(Options::default())
    }

    pub fn with(opts: Options) -> Self {
        let mut svm = compute_market_harness::litesvm();
        let mut clock: Clock = svm.get_sysvar();
        clock.unix_timestamp = T0;
        svm.set_sysvar(&clock);
        let admin = Keypair::new();
        svm.airdrop(&admin.pubkey(), 100 * SOL).unwrap();
        let treasury = Keypair::new().pubkey();
        let mut env = Env {
            svm,
            admin,
            treasury,
            market: MarketRef {
                program: client::PROGRAM_ID,
                address: Pubkey::default(),
                state: placeholder_market(),
            },
        };
        let payment_mint = env.create_mint(&opts.token_program, &[]);
        let stake_program = opts.stake_token_program.unwrap_or(opts.token_program);
        let stake_mint = if opts.same_mint {
            payment_mint
        } else {
            env.create_mint(&stake_program, &[])
        };
        let admin = env.admin.insecure_clone();
        let args = MarketInitArgs {
            market_id: 7,
            treasury,
            config: opts.config,
        };
        env.send(
            &[ix::init_market(
                &client::PROGRAM_ID,
                &admin.pubkey(),
                &payment_mint,
                &opts.token_program,
                &stake_mint,
                &stake_program,
                args,
            )],
            &[&admin],
        )
        .expect("init_market");
        let address = pda::market(&client::PROGRAM_ID, &admin.pubkey(), 7);
        env.market = MarketRef {
            program: client::PROGRAM_ID,
            address,
            state: env.market_state(&address),
        };
        // The treasury's accounts exist from the start, as a market operator would set them up.
        let (m, p) = (env.market.state.clone(), env.admin.pubkey());
        env.send(
            &[
                ix::create_ata(&p, &treasury, &m.payment_mint, &m.payment_token_program),
                ix::create_ata(&p, &treasury, &m.stake_mint, &m.stake_token_program),
            ],
            &[&admin],
        )
        .unwrap();
        env
    }

    // ---- chain plumbing -------------------------------------------------------------------

    /// Sends one transaction; the first signer pays.
    pub fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), TransactionError> {
        let tx = Transaction::new_signed_with_payer(
            ixs,
            Some(&signers[0].pubkey()),
            signers,
            self.svm.latest_blockhash(),
        );
        let r = self.svm.send_transaction(tx);
        self.svm.expire_blockhash();
        r.map(|_| ()).map_err(|f| f.err)
    }

    pub fn now(&self) -> i64 {
        self.svm.get_sysvar::<Clock>().unix_timestamp
    }

    /// Moves the clock forward by `secs` seconds (and a slot).
    pub fn warp(&mut self, secs: i64) {
        let mut clock: Clock = self.svm.get_sysvar();
        clock.unix_timestamp += secs;
        self.svm.set_sysvar(&clock);
        self.advance_slots(1);
    }

    /// Moves the chain forward `n` slots, the Unix time unchanged (SlotHashes listing them).
    pub fn advance_slots(&mut self, n: u64) {
        compute_market_harness::advance_slots(&mut self.svm, n);
    }

    /// Posts without waiting: eligibility windows open slot by slot from now.
    pub fn try_post_now(
        &mut self,
        requester: &Keypair,
        args: JobPostArgs,
    ) -> Result<Pubkey, TransactionError> {
        let job = self.market.job(&requester.pubkey(), args.nonce);
        let from = self.payment_ata(&requester.pubkey());
        let market = self.market.clone();
        self.send(
            &[ix::post_job(&requester.pubkey(), &market, &from, args)],
            &[requester],
        )?;
        Ok(job)
    }

    pub fn wallet(&mut self) -> Keypair {
        let k = Keypair::new();
        self.svm.airdrop(&k.pubkey(), 10 * SOL).unwrap();
        k
    }

    pub fn lamports(&self, a: &Pubkey) -> u64 {
        self.svm.get_balance(a).unwrap_or(0)
    }

    pub fn account(&self, a: &Pubkey) -> Option<Account> {
        self.svm.get_account(a).filter(|acc| acc.lamports > 0)
    }

    // ---- tokens ---------------------------------------------------------------------------

    /// Creates a mint (6 decimals) owned by `program`, with the given Token-2022 extensions
    /// initialised by `init_ext` instructions.
    pub fn create_mint_with(
        &mut self,
        program: &Pubkey,
        extensions: &[ExtensionType],
        init_ext: impl FnOnce(&Pubkey) -> Vec<Instruction>,
    ) -> Pubkey {
        let mint = Keypair::new();
        let space = if extensions.is_empty() {
            MintState::LEN
        } else {
            ExtensionType::try_calculate_account_len::<MintState>(extensions).unwrap()
        };
        let rent = self.svm.minimum_balance_for_rent_exemption(space);
        let admin = self.admin.insecure_clone();
        let mut ixs = vec![system_instruction::create_account(
            &admin.pubkey(),
            &mint.pubkey(),
            rent,
            space as u64,
            program,
        )];
        ixs.extend(init_ext(&mint.pubkey()));
        ixs.push(
            token_ix::initialize_mint2(program, &mint.pubkey(), &admin.pubkey(), None, 6).unwrap(),
        );
        self.send(&ixs, &[&admin, &mint]).expect("create mint");
        mint.pubkey()
    }

    pub fn create_mint(&mut self, program: &Pubkey, extensions: &[ExtensionType]) -> Pubkey {
        self.create_mint_with(program, extensions, |_| vec![])
    }

    /// Creates `owner`'s associated account for `mint` (if needed) and mints `amount` into it.
    pub fn fund(&mut self, owner: &Pubkey, mint: &Pubkey, program: &Pubkey, amount: u64) -> Pubkey {
        let admin = self.admin.insecure_clone();
        let ata = client::ata(owner, mint, program);
        let mut ixs = vec![ix::create_ata(&admin.pubkey(), owner, mint, program)];
        if amount > 0 {
            ixs.push(token_ix::mint_to(program, mint, &ata, &admin.pubkey(), &[], amount).unwrap());
        }
        self.send(&ixs, &[&admin]).expect("fund");
        ata
    }

    /// Token balance of a token account; 0 when it does not exist.
    pub fn balance(&self, token_account: &Pubkey) -> u64 {
        match self.account(token_account) {
            Some(acc) if acc.data.len() >= 72 => {
                u64::from_le_bytes(acc.data[64..72].try_into().unwrap())
            }
            _ => 0,
        }
    }

    pub fn payment_ata(&self, owner: &Pubkey) -> Pubkey {
        let m = &self.market.state;
        client::ata(owner, &m.payment_mint, &m.payment_token_program)
    }

    pub fn stake_ata(&self, owner: &Pubkey) -> Pubkey {
        let m = &self.market.state;
        client::ata(owner, &m.stake_mint, &m.stake_token_program)
    }

    pub fn escrow_balance(&self) -> u64 {
        self.balance(&self.market.state.escrow_vault)
    }

    pub fn stake_vault_balance(&self) -> u64 {
        self.balance(&self.market.state.stake_vault)
    }

    // ---- program accounts -----------------------------------------------------------------

    pub fn market_state(&self, address: &Pubkey) -> Market {
        let acc = self.account(address).expect("market exists");
        client::decode(address, "Market", &acc.data).unwrap()
    }

    pub fn job(&self, address: &Pubkey) -> Option<Job> {
        self.account(address)
            .map(|acc| client::decode(address, "Job", &acc.data).unwrap())
    }

    pub fn provider(&self, owner: &Pubkey) -> Option<Provider> {
        let address = self.market.provider(owner);
        self.account(&address)
            .map(|acc| client::decode(&address, "Provider", &acc.data).unwrap())
    }

    pub fn settlement(&self, job: &Pubkey) -> Option<Settlement> {
        let address = self.market.settlement(job);
        self.account(&address)
            .map(|acc| client::decode(&address, "Settlement", &acc.data).unwrap())
    }

    // ---- protocol steps -------------------------------------------------------------------

    /// A registered provider with `stake` staked (and nothing else in its stake account).
    pub fn provider_with_stake(&mut self, stake: u64) -> Keypair {
        let owner = self.wallet();
        let m = self.market.state.clone();
        let token = self.fund(
            &owner.pubkey(),
            &m.stake_mint,
            &m.stake_token_program,
            stake,
        );
        let market = self.market.clone();
        let mut ixs = vec![ix::register_provider(
            &owner.pubkey(),
            &market,
            "http://127.0.0.1:7070",
            1,
        )];
        if stake > 0 {
            ixs.push(ix::stake(&owner.pubkey(), &market, &token, stake));
        }
        self.send(&ixs, &[&owner]).expect("register + stake");
        owner
    }

    /// A wallet holding `tokens` of the payment mint.
    pub fn requester(&mut self, tokens: u64) -> Keypair {
        let k = self.wallet();
        let m = self.market.state.clone();
        self.fund(
            &k.pubkey(),
            &m.payment_mint,
            &m.payment_token_program,
            tokens,
        );
        k
    }

    /// Arguments of a post that accepts the market's current terms.
    pub fn post_args(&self, nonce: u64, reward: u64, n: u8, k: u8) -> JobPostArgs {
        JobPostArgs {
            nonce,
            manifest_hash: [7; 32],
            manifest_uri: "data:application/json,{}".to_string(),
            reward_per_replica: reward,
            min_reward_per_replica: reward,
            ramp_delay: 0,
            ramp_seconds: 0,
            replicas: n,
            quorum: k,
            commit_window: 0,
            terms_hash: self.market.terms_hash(),
            consumer: None,
        }
    }

    /// Posts, then moves past every eligibility window (the Unix time unchanged), so that any
    /// provider may claim at once: the tests of other rules claim in the order they choose
    /// (`tests/tests/sortition.rs` tests the windows).
    pub fn try_post(
        &mut self,
        requester: &Keypair,
        args: JobPostArgs,
    ) -> Result<Pubkey, TransactionError> {
        let job = self.try_post_now(requester, args)?;
        self.advance_slots(SEED_DELAY_SLOTS + ELIGIBILITY_CAP_SLOTS);
        Ok(job)
    }

    pub fn post(&mut self, requester: &Keypair, nonce: u64, reward: u64, n: u8, k: u8) -> Pubkey {
        let args = self.post_args(nonce, reward, n, k);
        self.try_post(requester, args).expect("post_job")
    }

    pub fn claim(&mut self, provider: &Keypair, job: &Pubkey) -> Result<(), TransactionError> {
        let ix = ix::claim_job(&provider.pubkey(), &self.market, job);
        self.send(&[ix], &[provider])
    }

    pub fn commit_ix(
        &self,
        provider: &Keypair,
        job: &Pubkey,
        root: [u8; 32],
        salt: [u8; 32],
    ) -> Instruction {
        let c = client::commitment_hash(job, &provider.pubkey(), &root, &salt);
        ix::commit_result(&self.market, &provider.pubkey(), job, c)
    }

    pub fn commit(
        &mut self,
        provider: &Keypair,
        job: &Pubkey,
        root: [u8; 32],
        salt: [u8; 32],
    ) -> Result<(), TransactionError> {
        let ix = self.commit_ix(provider, job, root, salt);
        self.send(&[ix], &[provider])
    }

    pub fn reveal(
        &mut self,
        provider: &Keypair,
        job: &Pubkey,
        root: [u8; 32],
        salt: [u8; 32],
    ) -> Result<(), TransactionError> {
        self.send(
            &[ix::reveal_result(
                &self.market,
                &provider.pubkey(),
                job,
                root,
                salt,
            )],
            &[provider],
        )
    }

    /// Creates `who`'s stake-mint account (paid by `who`), where a crank's bounty goes.
    fn own_stake_ata_ix(&self, who: &Pubkey) -> Instruction {
        let m = &self.market.state;
        ix::create_ata(who, who, &m.stake_mint, &m.stake_token_program)
    }

    /// The finalize instruction for the job's current state, with its ATA prerequisites.
    pub fn finalize_ixs(&mut self, caller: &Keypair, job: &Pubkey) -> Vec<Instruction> {
        let state = self.job(job).expect("job exists");
        let market = self.market.clone();
        let bounty_to = self.stake_ata(&caller.pubkey());
        let mut ixs = client::ix::finalize_job_prerequisites(&caller.pubkey(), &market, &state);
        ixs.push(self.own_stake_ata_ix(&caller.pubkey()));
        ixs.push(ix::finalize_job(
            &caller.pubkey(),
            &market,
            job,
            &state,
            &bounty_to,
        ));
        ixs
    }

    pub fn finalize(&mut self, caller: &Keypair, job: &Pubkey) -> Result<(), TransactionError> {
        let ixs = self.finalize_ixs(caller, job);
        self.send(&ixs, &[caller])
    }

    pub fn expire(
        &mut self,
        caller: &Keypair,
        job: &Pubkey,
        slot: u8,
    ) -> Result<(), TransactionError> {
        let state = self.job(job).expect("job exists");
        let holder = state
            .slots
            .get(slot as usize)
            .map(|s| s.provider)
            .unwrap_or_default();
        let market = self.market.clone();
        let bounty_to = self.stake_ata(&caller.pubkey());
        let ixs = [
            self.own_stake_ata_ix(&caller.pubkey()),
            ix::expire_claim(&caller.pubkey(), &market, job, slot, &holder, &bounty_to),
        ];
        self.send(&ixs, &[caller])
    }
}

/// Placeholder until the market is created (never read).
fn placeholder_market() -> Market {
    Market {
        version: 0,
        bump: 0,
        escrow_vault_bump: 0,
        stake_vault_bump: 0,
        paused: false,
        authority: Pubkey::default(),
        market_id: 0,
        payment_mint: Pubkey::default(),
        payment_token_program: Pubkey::default(),
        stake_mint: Pubkey::default(),
        stake_token_program: Pubkey::default(),
        escrow_vault: Pubkey::default(),
        stake_vault: Pubkey::default(),
        treasury: Pubkey::default(),
        config: config(),
        reserved: [0; 64],
    }
}

/// Claims, commits and reveals `roots[i]` for provider `i` (all commit before any reveals).
pub fn run_to_reveals(
    env: &mut Env,
    job: &solana_sdk::pubkey::Pubkey,
    providers: &[&solana_sdk::signature::Keypair],
    roots: &[[u8; 32]],
) {
    for p in providers {
        env.claim(p, job).unwrap();
    }
    for (i, (p, r)) in providers.iter().zip(roots).enumerate() {
        env.commit(p, job, *r, salt(i as u8)).unwrap();
    }
    for (i, (p, r)) in providers.iter().zip(roots).enumerate() {
        env.reveal(p, job, *r, salt(i as u8)).unwrap();
    }
}
