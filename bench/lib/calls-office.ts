// The office of the call-traffic benchmark: a call centre big enough to hold the issue's
// "1,000 calls in progress at peak" (an employee talks on one call at a time, so a thousand
// answered calls need well over a thousand employees), built through Dzvin's own services.
import type { BuiltApp } from '../../packages/server/src/index.ts';

export interface OfficePlan {
  domain: string;
  /** Employees in hunt groups (sequential / round-robin), `huntSize` each. */
  huntGroups: number;
  huntSize: number;
  /** Employees in small simultaneous groups, `ringAllSize` each. */
  ringAllGroups: number;
  ringAllSize: number;
  /** Trunks straight to one employee (a personal line). */
  directLines: number;
  /** Trunks into the IVR ("press 1 for sales, 2 for support", else the default group). */
  ivrTrunks: number;
  ivrTimeoutSec: number;
  ringTimeoutSec: number;
  /** Every employee answers after a fixed delay drawn from this range (s), with this probability. */
  answerAfterSec: [number, number];
  answerProbability: number;
  talk: { minSec: number; maxSec: number };
}

export interface Office {
  accountId: number;
  domain: string;
  apiKey: string;
  employees: number;
  groups: number;
  /** Where arrivals go: a trunk number and how much of the traffic it gets. */
  trunks: { number: string; kind: 'group' | 'ivr' | 'direct'; weight: number }[];
}

const trunkNumber = (k: number) => `+38044${String(2_000_000 + k).padStart(7, '0')}`;

const FIRST = ['Олена', 'Андрій', 'Марія', 'Ігор', 'Наталія', 'Олег', 'Ірина', 'Тарас', 'Юлія', 'Богдан'];
const LAST = ['Коваленко', 'Шевчук', 'Бондар', 'Ткаченко', 'Кравець', 'Мельник', 'Олійник', 'Лисенко'];

/**
 * Creates the account, its employees, groups, IVR and trunks, and sets the simulated phones and
 * talk time. Traffic shares: IVR trunks 10%, direct lines 4%, the rest over the group trunks in
 * proportion to their members (every employee gets about the same load).
 */
export async function buildOffice(built: BuiltApp, plan: OfficePlan, random: () => number): Promise<Office> {
  const { accounts, directory } = built.services;
  const created = await accounts.create({ domain: plan.domain, name: 'Call centre', defaultCountry: 'UA' });
  // A sandbox: its phones are simulated whatever DZVIN_MODE says (the proof runs in production
  // mode, where an account that has not chosen has only real phones).
  let account = await accounts.update(created.account.id, { phones: 'simulated' });
  const { sim } = built.simulator;

  let ext = 1000;
  const employee = async (k: number) => {
    const e = await directory.employees.create(account, {
      displayName: `${FIRST[k % FIRST.length]} ${LAST[Math.floor(k / FIRST.length) % LAST.length]} ${k}`,
      ext: String(ext++),
    });
    const [lo, hi] = plan.answerAfterSec;
    sim.setEmployeeBehaviour(account.id, e.ext, {
      mode: 'answer',
      answerAfterSec: Math.round((lo + (hi - lo) * random()) * 10) / 10,
      probability: plan.answerProbability,
    });
    return e;
  };

  let nEmployees = 0;
  const groups: { id: number; members: number[] }[] = [];
  let groupExt = 100;
  const makeGroups = async (
    count: number,
    size: number,
    strategies: ('simultaneous' | 'sequential' | 'round-robin')[],
  ) => {
    for (let g = 0; g < count; g++) {
      const members: number[] = [];
      for (let m = 0; m < size; m++) members.push((await employee(nEmployees++)).id);
      const group = await directory.groups.create(account, {
        name: `Група ${groupExt}`,
        ext: String(groupExt++),
        strategy: strategies[g % strategies.length],
        ringTimeoutSec: plan.ringTimeoutSec,
        members,
      });
      groups.push({ id: group.id, members });
    }
  };
  await makeGroups(plan.huntGroups, plan.huntSize, ['round-robin', 'sequential']);
  await makeGroups(plan.ringAllGroups, plan.ringAllSize, ['simultaneous']);
  if (!groups.length) throw new Error('the office needs at least one group');
  account = await accounts.update(account.id, { apiUserId: groups[0].members[0] });

  const ivr = await directory.ivr.create(account, {
    name: 'Головне меню',
    greeting: 'Натисніть 1 — продажі, 2 — підтримка',
    timeoutSec: plan.ivrTimeoutSec,
    options: [
      { digit: '1', target: { type: 'group', id: groups[0].id } },
      { digit: '2', target: { type: 'group', id: groups[1 % groups.length].id } },
    ],
    defaultTarget: { type: 'group', id: groups[2 % groups.length].id },
  });

  const trunks: Office['trunks'] = [];
  let t = 0;
  const groupMembers = groups.reduce((n, g) => n + g.members.length, 0);
  for (const g of groups) {
    const number = trunkNumber(t++);
    await directory.trunks.create(account, {
      number,
      name: `Лінія ${t}`,
      destination: { type: 'group', id: g.id },
      isDefault: t === 1,
    });
    trunks.push({ number, kind: 'group', weight: (0.86 * g.members.length) / groupMembers });
  }
  for (let k = 0; k < plan.ivrTrunks; k++) {
    const number = trunkNumber(t++);
    await directory.trunks.create(account, {
      number,
      name: `Багатоканальний ${k + 1}`,
      destination: { type: 'ivr', id: ivr.id },
    });
    trunks.push({ number, kind: 'ivr', weight: 0.1 / plan.ivrTrunks });
  }
  for (let k = 0; k < plan.directLines; k++) {
    // A personal line of someone in a hunt group: busy whenever they talk on a group call.
    const g = groups[k % groups.length];
    const id = g.members[Math.floor(k / groups.length) % g.members.length];
    const number = trunkNumber(t++);
    await directory.trunks.create(account, {
      number,
      name: `Пряма ${k + 1}`,
      destination: { type: 'employee', id },
    });
    trunks.push({ number, kind: 'direct', weight: 0.04 / plan.directLines });
  }
  sim.setTalkTime(account.id, plan.talk);
  return {
    accountId: account.id,
    domain: plan.domain,
    apiKey: created.apiKey,
    employees: nEmployees,
    groups: groups.length,
    trunks,
  };
}

const OPERATORS = ['50', '63', '66', '67', '68', '73', '93', '95', '96', '97', '98', '99'];

/** A caller's number as people type it (`0XXYYYYYYY`), from a pool of `pool` customers. */
export function callerNumber(random: () => number, pool: number): string {
  const k = Math.floor(random() * pool);
  return `0${OPERATORS[k % OPERATORS.length]}${String((k * 7919) % 10_000_000).padStart(7, '0')}`;
}
