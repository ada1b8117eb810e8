import dimse from 'dcmjs-dimse';
import './dcmjs.js';

/**
 * dcmjs-dimse as the node uses it, on either side of an association: silent, since the node's
 * own logger says what matters (it logs through loglevel to the console otherwise). Its log
 * lines are built before the level is checked, and the ones about association requests and
 * accepts describe every presentation context, naming each UID by searching dictionaries
 * merged anew per lookup: 1-3 ms per line for the ~120 contexts storescu proposes, twice per
 * association (measured). The description is not needed, so it is a short one.
 */
dimse.log.setLevel('silent');
dimse.association.Association.prototype.toString = function (this: dimse.association.Association): string {
  return `${this.getCallingAeTitle()} -> ${this.getCalledAeTitle()}, ${this.getPresentationContexts().length} presentation contexts`;
};

export default dimse;
