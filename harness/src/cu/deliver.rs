//! A job naming the sample consumer: posts naming consumers of several prefixes, the job run to
//! a verified settlement with a real result root, and its delivery.

use super::Bench;
use compute_market_client::{self as client, commitment_hash, ix, Pubkey};
use solana_sdk::{signature::Keypair, signer::Signer};

impl Bench {
    /// Creates a feed of the sample consumer, posts an n = 1 job naming it, runs it to a
    /// verified settlement with a real result root and measures the delivery.
    pub(super) fn deliver_flow(
        &mut self,
        requester: &Keypair,
        from: &Pubkey,
        provider: &Keypair,
        nonce: u64,
    ) -> Result<(), String> {
        use client::merkle::{ExitStatus, ResultSummary};
        use verified_value::client::{consumer, create_feed, feed_address};
        let owner = self.wallet()?;
        let args = verified_value::CreateFeedArgs {
            feed_id: 0,
            market_program: client::PROGRAM_ID,
            market: self.market.address,
            manifest_hash: [0; 32],
            requester: requester.pubkey(),
            min_agreeing: 1,
        };
        self.send(&[create_feed(&owner.pubkey(), args)], &[&owner])?;
        let consumer = consumer(&feed_address(&owner.pubkey(), 0));
        // posts naming the consumer with other prefixes of the same length: other delivery
        // authorities, whose bump searches post_job pays for
        for i in 1..=5u8 {
            let mut other = consumer.clone();
            other.data_prefix = vec![i; other.data_prefix.len()];
            let args = self.post_args(nonce + (u64::from(i) << 32), 1, Some(other));
            let post = ix::post_job(&requester.pubkey(), &self.market.clone(), from, args);
            self.measure("post_job (with a consumer)", 1, 0, post, &[requester])?;
        }
        let job = self.post_with(requester, from, nonce, 1, Some(consumer))?;
        let market = self.market.clone();
        let output = b"42.0001\n";
        let summary = ResultSummary::new("wasi-p1v2", ExitStatus::Exited(0), 12_345, output);
        let root = summary.root(&job);
        let c = commitment_hash(&job, &provider.pubkey(), &root, &[5; 32]);
        self.send(
            &[ix::claim_job(&provider.pubkey(), &market, &job)],
            &[provider],
        )?;
        self.send(
            &[ix::commit_result(&market, &provider.pubkey(), &job, c)],
            &[provider],
        )?;
        let reveal = ix::reveal_result(&market, &provider.pubkey(), &job, root, [5; 32]);
        self.send(&[reveal], &[provider])?;
        let caller = self.admin.insecure_clone();
        self.finalize(&caller, &job, "with a consumer", 1)?;
        let acc = self
            .svm
            .get_account(&market.settlement(&job))
            .ok_or("no settlement")?;
        let settlement: client::Settlement =
            client::decode(&job, "Settlement", &acc.data).map_err(|e| e.to_string())?;
        let deliver = ix::deliver_result(
            &caller.pubkey(),
            &client::PROGRAM_ID,
            &job,
            &settlement,
            Some(summary.opening(output)),
        )
        .ok_or("the job named no consumer")?;
        self.measure(
            "deliver_result (sample consumer)",
            1,
            1,
            deliver,
            &[&caller],
        )
    }
}
