//! Threat intelligence: asking the network (Query/Answer), sharing own detections
//! (Report/Blame), receiving peers' ones, and the opinion built from them.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::api::{
    Action, AnswerInfo, AnsweredResponse, AskResponse, Dest, ErrorResponse, Notification,
    OpinionResponse, Persist, ReportInfo, ReportKind, Response, SharedResponse,
};
use super::judge::PeerAnswer;
use super::Node;
use crate::ioc::{Evaluation, Ioc};
use crate::wire::{Answer, Blame, Message, Query, Report};

/// An ask waiting for answers. All asks for one IoC share it (coalescing).
#[derive(Debug)]
pub(crate) struct PendingAsk {
    pub ioc: Ioc,
    pub started_ms: u64,
    pub deadline_ms: u64,
    /// When the Query is sent again to the peers still waited for (None: done or disabled).
    pub retry_ms: Option<u64>,
    pub request: u64,
    /// Active peers when the Query went out that have not answered yet.
    pub waiting: BTreeSet<[u8; 32]>,
    pub asked: usize,
    pub answers: Vec<([u8; 32], Option<Evaluation>)>,
    pub tokens: Vec<u64>,
}

/// A completed ask, served again to asks that come soon after.
#[derive(Debug, Clone)]
pub(crate) struct CachedAsk {
    pub response: AskResponse,
    pub at_ms: u64,
}

/// A peer's Query forwarded to the relay, waiting for `Command::AnswerQuery`.
#[derive(Debug, Clone)]
pub(crate) struct IncomingQuery {
    pub ioc: Ioc,
    pub addr: SocketAddr,
    pub expires_ms: u64,
}

/// A Report or Blame received, kept for `Opinion`.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedReport {
    pub peer: [u8; 32],
    pub kind: ReportKind,
    pub evaluation: Evaluation,
    pub at_ms: u64,
}

impl Node {
    pub(super) fn start_ask(&mut self, now_ms: u64, ioc: Ioc, token: u64) {
        if let Some(ask) = self
            .asks_by_ioc
            .get(&ioc)
            .and_then(|r| self.asks.get_mut(r))
        {
            ask.tokens.push(token);
            self.stats.asks_coalesced += 1;
            return;
        }
        if let Some(c) = self.cache.get(&ioc) {
            if now_ms.saturating_sub(c.at_ms) < self.cfg.ask_cache_ms {
                let mut response = c.response.clone();
                response.elapsed_ms = 0;
                self.stats.asks_cached += 1;
                self.reply(token, Response::Ask(response));
                return;
            }
        }
        let waiting: BTreeSet<[u8; 32]> = self
            .peers
            .values()
            .filter(|p| p.active)
            .map(|p| p.key)
            .collect();
        let mut request = self.random_u64();
        while self.asks.contains_key(&request) || self.finished.contains_key(&request) {
            request = self.random_u64();
        }
        let ask = PendingAsk {
            ioc: ioc.clone(),
            started_ms: now_ms,
            deadline_ms: now_ms + self.cfg.ask_deadline_ms,
            retry_ms: (self.cfg.ask_retry_ms > 0
                && self.cfg.ask_retry_ms < self.cfg.ask_deadline_ms)
                .then(|| now_ms + self.cfg.ask_retry_ms),
            request,
            asked: waiting.len(),
            waiting,
            answers: Vec::new(),
            tokens: vec![token],
        };
        let nobody = ask.waiting.is_empty();
        self.asks.insert(request, ask);
        self.asks_by_ioc.insert(ioc.clone(), request);
        if nobody {
            self.stats.asks_complete += 1;
            self.finish_ask(now_ms, request);
            return;
        }
        self.stats.queries_sent += 1;
        self.send(
            now_ms,
            Dest::Multicast,
            &Message::Query(Query { request, ioc }),
        );
    }

    pub(super) fn on_answer(&mut self, now_ms: u64, sender: [u8; 32], a: Answer) {
        let Some(ask) = self.asks.get_mut(&a.request) else {
            let reason = if self.finished.contains_key(&a.request) {
                "answer_late"
            } else {
                "answer_unsolicited"
            };
            return self.note_drop(reason);
        };
        if ask.ioc != a.ioc {
            return self.note_drop("answer_mismatch");
        }
        if ask.answers.iter().any(|(k, _)| *k == sender) {
            return self.note_drop("answer_duplicate");
        }
        ask.waiting.remove(&sender);
        ask.answers.push((sender, a.evaluation));
        let done = ask.waiting.is_empty();
        let waiting = ask.tokens.clone();
        if let Some(p) = self.peers.get_mut(&sender) {
            p.good += 1;
            p.dirty = true;
        }
        self.actions
            .push_back(Action::Notify(Notification::AnswerReceived {
                peer: super::peer_id_text(&sender),
                ioc: a.ioc.clone(),
                evaluation: a.evaluation,
                timestamp_ms: now_ms,
                waiting,
            }));
        if let Some(ev) = a.evaluation {
            self.judge
                .observe(sender, &a.ioc, ev, ReportKind::Answer, now_ms);
            self.actions
                .push_back(Action::Persist(Persist::ReportReceived {
                    peer: sender,
                    kind: ReportKind::Answer,
                    ioc: a.ioc,
                    evaluation: ev,
                    at_ms: now_ms,
                }));
        }
        if done {
            self.stats.asks_complete += 1;
            self.finish_ask(now_ms, a.request);
        }
    }

    /// A peer went away: stop waiting for it, which may complete asks.
    pub(super) fn forget_expected(&mut self, now_ms: u64, key: &[u8; 32]) {
        let mut done = Vec::new();
        for (r, ask) in self.asks.iter_mut() {
            if ask.waiting.remove(key) && ask.waiting.is_empty() {
                done.push(*r);
            }
        }
        for r in done {
            self.stats.asks_complete += 1;
            self.finish_ask(now_ms, r);
        }
    }

    pub(super) fn expire_asks(&mut self, now_ms: u64) {
        let mut resend = Vec::new();
        for ask in self.asks.values_mut() {
            if ask.retry_ms.is_some_and(|t| t <= now_ms) {
                ask.retry_ms = None;
                for k in &ask.waiting {
                    resend.push((*k, ask.request, ask.ioc.clone()));
                }
            }
        }
        for (k, request, ioc) in resend {
            let Some(addr) = self.peers.get(&k).and_then(|p| p.addr) else {
                continue;
            };
            self.stats.queries_retried += 1;
            self.send(
                now_ms,
                Dest::Unicast(addr),
                &Message::Query(Query { request, ioc }),
            );
        }
        let due: Vec<u64> = self
            .asks
            .iter()
            .filter(|(_, a)| a.deadline_ms <= now_ms)
            .map(|(r, _)| *r)
            .collect();
        for r in due {
            self.stats.asks_deadline += 1;
            self.finish_ask(now_ms, r);
        }
    }

    /// Aggregates, replies to every waiting token, caches and persists the opinion.
    pub(super) fn finish_ask(&mut self, now_ms: u64, request: u64) {
        let Some(ask) = self.asks.remove(&request) else {
            return;
        };
        self.asks_by_ioc.remove(&ask.ioc);
        self.finished.insert(request, now_ms);
        let with_data: Vec<PeerAnswer> = ask
            .answers
            .iter()
            .filter_map(|(k, e)| {
                e.map(|evaluation| PeerAnswer {
                    peer: *k,
                    reliability: self.peers.get(k).map_or(0.5, |p| p.reliability()),
                    evaluation,
                })
            })
            .collect();
        let own = self.own.get(&ask.ioc).copied();
        let agg = self.judge.aggregate(&ask.ioc, &with_data, own, now_ms);
        let answers = with_data
            .iter()
            .map(|a| AnswerInfo {
                peer: super::peer_id_text(&a.peer),
                threat: a.evaluation.threat(),
                confidence: a.evaluation.confidence(),
            })
            .collect();
        let response = AskResponse {
            ioc: ask.ioc.to_string(),
            threat: agg.map(|e| e.threat()),
            confidence: agg.map(|e| e.confidence()),
            answers,
            asked: ask.asked,
            answered: ask.answers.len(),
            elapsed_ms: now_ms.saturating_sub(ask.started_ms),
        };
        for t in &ask.tokens {
            self.reply(*t, Response::Ask(response.clone()));
        }
        self.actions.push_back(Action::Persist(Persist::Opinion {
            ioc: ask.ioc.clone(),
            evaluation: agg,
            at_ms: now_ms,
        }));
        if self.cache.len() < self.cfg.max_entries || self.cache.contains_key(&ask.ioc) {
            self.cache.insert(
                ask.ioc,
                CachedAsk {
                    response,
                    at_ms: now_ms,
                },
            );
        }
    }

    /// An own detection: remember it (Queries are answered from it), persist it, and
    /// broadcast it unless the same one went out within the dedup window.
    pub(super) fn share(
        &mut self,
        now_ms: u64,
        ioc: Ioc,
        evaluation: Evaluation,
        kind: ReportKind,
        token: u64,
    ) {
        if self.own.len() < self.cfg.max_entries || self.own.contains_key(&ioc) {
            self.own.insert(ioc.clone(), evaluation);
        }
        self.actions
            .push_back(Action::Persist(Persist::OwnDetection {
                ioc: ioc.clone(),
                evaluation,
                kind,
                at_ms: now_ms,
            }));
        let key = (ioc.clone(), kind);
        let recent = self
            .own_sent
            .get(&key)
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.cfg.dedup_window_ms);
        let room = self.own_sent.len() < self.cfg.max_entries || self.own_sent.contains_key(&key);
        let sent = if recent {
            false
        } else {
            let msg = match kind {
                ReportKind::Blame => Message::Blame(Blame {
                    ioc: ioc.clone(),
                    evaluation,
                }),
                _ => Message::Report(Report {
                    ioc: ioc.clone(),
                    evaluation,
                }),
            };
            let ok = self.send(now_ms, Dest::Multicast, &msg);
            if ok && room {
                self.own_sent.insert(key, now_ms);
            }
            ok
        };
        self.reply(
            token,
            Response::Shared(SharedResponse {
                ioc: ioc.to_string(),
                kind,
                sent,
            }),
        );
    }

    /// A peer's Report or Blame: deduplicated per (peer, IoC, kind) within the window, then
    /// given to the trust model, the store, the relay, and kept for `Opinion`.
    pub(super) fn on_report(
        &mut self,
        now_ms: u64,
        sender: [u8; 32],
        ioc: Ioc,
        evaluation: Evaluation,
        kind: ReportKind,
    ) {
        let key = (sender, ioc.clone(), kind);
        if let Some(t) = self.seen_reports.get(&key) {
            if now_ms.saturating_sub(*t) < self.cfg.dedup_window_ms {
                return self.note_drop("report_duplicate");
            }
        }
        if self.seen_reports.len() >= self.cfg.max_entries && !self.seen_reports.contains_key(&key)
        {
            return self.note_drop("report_table_full");
        }
        self.seen_reports.insert(key, now_ms);
        let Some(peer_id) = self.peers.get(&sender).map(|p| p.id.clone()) else {
            return;
        };
        self.judge.observe(sender, &ioc, evaluation, kind, now_ms);
        self.actions
            .push_back(Action::Persist(Persist::ReportReceived {
                peer: sender,
                kind,
                ioc: ioc.clone(),
                evaluation,
                at_ms: now_ms,
            }));
        self.actions
            .push_back(Action::Notify(Notification::ReportReceived {
                peer: peer_id,
                kind,
                ioc: ioc.clone(),
                evaluation,
                timestamp_ms: now_ms,
            }));
        if !self.reports.contains_key(&ioc) && self.reports.len() >= self.cfg.max_entries {
            return;
        }
        let list = self.reports.entry(ioc).or_default();
        if list.len() >= self.cfg.max_reports_per_ioc {
            list.pop_front();
        }
        list.push_back(ReceivedReport {
            peer: sender,
            kind,
            evaluation,
            at_ms: now_ms,
        });
    }

    /// The relay's answer to a Query forwarded with `QueryReceived` (Pigeon mode). Only a
    /// Query we actually received, not yet answered and not expired, can be answered.
    pub(super) fn answer_forwarded(
        &mut self,
        now_ms: u64,
        peer: &str,
        request: u64,
        evaluation: Option<Evaluation>,
        token: u64,
    ) {
        let q = self
            .peer_by_id(peer)
            .and_then(|k| self.incoming.remove(&(k, request)))
            .filter(|q| q.expires_ms >= now_ms);
        let Some(q) = q else {
            self.reply(
                token,
                Response::Error(ErrorResponse {
                    error: format!("no pending query {request} from peer {peer}"),
                }),
            );
            return;
        };
        // The relay had nothing (or withheld it): our own detection, if any, still answers.
        let evaluation = evaluation.or_else(|| self.own.get(&q.ioc).copied());
        let msg = Message::Answer(Answer {
            request,
            ioc: q.ioc,
            evaluation,
        });
        let sent = self.send(now_ms, Dest::Unicast(q.addr), &msg);
        self.reply(token, Response::Answered(AnsweredResponse { sent }));
    }

    /// What peers have reported about an IoC (each peer's latest report or blame counts once),
    /// combined with our own detection.
    pub(super) fn opinion(&mut self, now_ms: u64, ioc: &Ioc) -> OpinionResponse {
        let list: Vec<ReceivedReport> = self
            .reports
            .get(ioc)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        let mut latest: Vec<PeerAnswer> = Vec::new();
        for r in list.iter().rev() {
            if latest.iter().all(|a| a.peer != r.peer) {
                latest.push(PeerAnswer {
                    peer: r.peer,
                    reliability: self.peers.get(&r.peer).map_or(0.5, |p| p.reliability()),
                    evaluation: r.evaluation,
                });
            }
        }
        let own = self.own.get(ioc).copied();
        let agg = self.judge.aggregate(ioc, &latest, own, now_ms);
        OpinionResponse {
            ioc: ioc.to_string(),
            threat: agg.map(|e| e.threat()),
            confidence: agg.map(|e| e.confidence()),
            reports: list
                .iter()
                .map(|r| ReportInfo {
                    peer: super::peer_id_text(&r.peer),
                    kind: r.kind,
                    threat: r.evaluation.threat(),
                    confidence: r.evaluation.confidence(),
                    at: r.at_ms / 1000,
                })
                .collect(),
        }
    }
}
