/** The behaviour score, only where no protocol spoke (exports, encrypted sessions) and data went both ways. */
import type { BehaviourConfig } from '../../rules/schema.js';
import { behaviourFacts, behaviourReaches, scoreBehaviour } from '../behaviour.js';
import { NEED, type FlowFacts, type Matcher } from '../matcher.js';

/** The matcher for the policy's behaviour score, or null when the policy has none. */
export function behaviourScore(cfg: BehaviourConfig | null): Matcher<FlowFacts> | null {
  if (!cfg) return null;
  return {
    name: 'behaviour',
    needs: NEED.ESTABLISHED,
    excludes: NEED.PROTOCOL,
    run(ctx, _env, traits): number {
      const flow = ctx.flow;
      const facts = behaviourFacts((traits & NEED.MINING_PORT) !== 0, ctx.listed);
      // Whether the sum reaches weak_at first (nothing allocated): most flows do not, and need no list of traits.
      if (!behaviourReaches(cfg, flow, facts, cfg.weakAt)) return 0;
      const b = scoreBehaviour(cfg, flow, facts);
      if (b.score < cfg.weakAt) return 0;
      const strong = b.score >= cfg.strongAt;
      ctx.evidence.push({
        ruleId: cfg.id,
        rev: cfg.rev,
        kind: strong ? 'behaviour' : 'behaviour-weak',
        side: 'client',
        family: 'behaviour',
        matched: `score ${b.score} (${strong ? 'strong' : 'weak'}; strong at ${cfg.strongAt}, weak at ${cfg.weakAt}): ${b.scored.map((t) => `${t.name} ${t.value} +${t.points}`).join(', ')}`,
        excerpt: '',
        offset: 0,
        time: flow.firstSeen,
      });
      return 0;
    },
  };
}
