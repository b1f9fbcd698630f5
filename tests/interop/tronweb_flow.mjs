// An independent client against the devnet: TronWeb (from npm, unmodified) builds, signs and broadcasts
// a TRX transfer, a TRC20 transfer (its default path: /wallet/triggersmartcontract) and Stake 2.0
// freeze + delegate (energy, bandwidth with a lock) + undelegate. TronWeb builds system contracts
// locally from /wallet/getblock, checks txID against raw_data (txCheck) and signs with v = 27/28.
//
// Input (stdin, JSON): {"node": url, "key": sender's private key hex, "to": address, "token": address,
//   "trx": sun, "tokens": base units, "freeze_energy": sun, "freeze_bandwidth": sun,
//   "delegate_energy": sun, "delegate_bandwidth": sun, "lock_period": blocks, "undelegate_energy": sun}
// Output (stdout, JSON): {"sender", "steps": [{"step", "txid", "broadcast", "info"}]}; exit 1 on error.

import { readFileSync } from 'node:fs';
import { TronWeb } from 'tronweb';

const input = JSON.parse(readFileSync(0, 'utf8'));
const tronWeb = new TronWeb({ fullHost: input.node.replace(/\/$/, '') });
const sender = tronWeb.address.fromPrivateKey(input.key);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function mined(txid) {
  for (let i = 0; i < 150; i++) {
    const info = await tronWeb.trx.getTransactionInfo(txid);
    if (info && info.blockNumber !== undefined) return info;
    await sleep(200);
  }
  throw new Error(`transaction ${txid} was not mined`);
}

async function send(step, transaction) {
  const signed = await tronWeb.trx.sign(transaction, input.key);
  const broadcast = await tronWeb.trx.sendRawTransaction(signed);
  if (!broadcast.result) {
    throw new Error(`${step}: broadcast refused: ${JSON.stringify({ code: broadcast.code, message: broadcast.message })}`);
  }
  const info = await mined(signed.txID);
  return { step, txid: signed.txID, v: parseInt(signed.signature[0].slice(128, 130), 16), info };
}

const builder = tronWeb.transactionBuilder;
const steps = [];
try {
  steps.push(await send('trx', await builder.sendTrx(input.to, input.trx, sender)));
  const trigger = await builder.triggerSmartContract(
    input.token,
    'transfer(address,uint256)',
    { feeLimit: 100_000_000 },
    [
      { type: 'address', value: input.to },
      { type: 'uint256', value: input.tokens },
    ],
    sender,
  );
  steps.push(await send('trc20', trigger.transaction));
  steps.push(await send('freeze_energy', await builder.freezeBalanceV2(input.freeze_energy, 'ENERGY', sender)));
  steps.push(
    await send('freeze_bandwidth', await builder.freezeBalanceV2(input.freeze_bandwidth, 'BANDWIDTH', sender)),
  );
  steps.push(
    await send('delegate_energy', await builder.delegateResource(input.delegate_energy, input.to, 'ENERGY', sender)),
  );
  steps.push(
    await send(
      'delegate_bandwidth',
      await builder.delegateResource(input.delegate_bandwidth, input.to, 'BANDWIDTH', sender, true, input.lock_period),
    ),
  );
  steps.push(
    await send('undelegate_energy', await builder.undelegateResource(input.undelegate_energy, input.to, 'ENERGY', sender)),
  );
  process.stdout.write(JSON.stringify({ sender, steps }));
} catch (err) {
  process.stdout.write(JSON.stringify({ sender, steps, error: String(err && err.message ? err.message : err) }));
  process.exit(1);
}
