// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";
import {IFeatureSource} from "./IFeatureSource.sol";
import {FixedPoint} from "./FixedPoint.sol";

/// @title ReturnsFeatureSource
/// @notice The last `window` returns of an AggregatorV3 price feed, as a circuit's input instances.
///
/// Epoch E is a feed round id. Its input is the returns of the `window + 1` consecutive rounds
/// E - window, ..., E, oldest first:
///
///     x_i = multiplier * (p_i - p_{i-1}) / p_{i-1}          (multiplier 100: percent returns)
///     q_i = round(x_i * 2^inputScale), halves away from zero (Rust's f64::round, which ezkl
///           applies when it quantizes an input at scale inputScale)
///
/// computed exactly in integers (no floating point), and encoded as BN254 field elements
/// (a negative q as p - |q|). `zkml.oracle.mirror` computes the same in Python integers, so the
/// prover's input (q_i / 2^inputScale, exact in a float) gives ezkl exactly these instances.
/// The epoch's timestamp is round E's updatedAt. A good round exists (its own id answered), has a
/// positive answer and a non-zero updatedAt. Round E must be good; a bad round inside the window
/// is skipped, so the window is the latest `window + 1` good rounds up to E, all in E's feed phase
/// (at most MAX_SKIPPED skipped). One bad round thus makes only its own epoch unusable, never the
/// later epochs whose window holds it.
///
/// Circuit breaker (optional, `maxChangeBps` > 0): every consecutive pair of the window's good rounds must
/// satisfy |p_i - p_{i-1}| * 10000 <= maxChangeBps * p_{i-1} (exact integers). An epoch whose window holds a
/// larger jump reverts CircuitBreaker(epoch, round of p_i): it cannot be attested, so no prediction is made on
/// a window holding a manipulated (or real but extreme) jump. Epochs whose window no longer holds it work again.
contract ReturnsFeatureSource is IFeatureSource {
    AggregatorV3Interface public immutable feed;
    uint256 public immutable window;
    uint8 public immutable inputScale;
    uint256 public immutable multiplier;
    /// @notice The largest change between consecutive rounds of a window, in basis points of the earlier price; 0: off.
    uint256 public immutable maxChangeBps;

    /// @dev A batch of epochs spanning at most this many rounds reads each round once.
    uint256 private constant MAX_SHARED_SPAN = 512;
    uint256 private constant PHASE_MASK = type(uint64).max;
    /// @notice An epoch's window skips at most this many bad rounds; more (a broken feed) reverts BadRound.
    uint256 public constant MAX_SKIPPED = 16;
    /// @notice maxChangeBps's bound: a change of 10,000% (101x the earlier price) between consecutive rounds.
    uint256 public constant MAX_CHANGE_BPS_LIMIT = 1_000_000;

    error InvalidParameter(string reason);
    error NoEpochs();
    error EpochOutOfRange(uint256 epoch);
    error BadRound(uint80 roundId);
    error CircuitBreaker(uint256 epoch, uint80 roundId);

    constructor(
        AggregatorV3Interface feed_,
        uint256 window_,
        uint8 inputScale_,
        uint256 multiplier_,
        uint256 maxChangeBps_
    ) {
        if (address(feed_).code.length == 0) revert InvalidParameter("no contract at feed");
        if (window_ == 0 || window_ > 256) revert InvalidParameter("window must be 1..256");
        // Bounds keep multiplier * 2^scale * (p_i - p_{i-1}) * 2 inside int256 for int192 answers.
        if (inputScale_ > 32) revert InvalidParameter("inputScale above 32");
        if (multiplier_ == 0 || multiplier_ > 1e6) revert InvalidParameter("multiplier must be 1..1e6");
        // Bounded so maxChangeBps * price stays far inside uint256 (prices are int192).
        if (maxChangeBps_ > MAX_CHANGE_BPS_LIMIT) revert InvalidParameter("maxChangeBps must be 0..1e6");
        feed = feed_;
        window = window_;
        inputScale = inputScale_;
        multiplier = multiplier_;
        maxChangeBps = maxChangeBps_;
    }

    function width() external view override returns (uint256) {
        return window;
    }

    function latestEpoch() external view override returns (uint256) {
        (uint80 roundId,,,,) = feed.latestRoundData();
        return roundId;
    }

    function instancesAt(uint256[] calldata epochs)
        external
        view
        override
        returns (uint256[] memory instances, uint64[] memory timestamps)
    {
        uint256 n = epochs.length;
        if (n == 0) revert NoEpochs();
        (uint256 low, uint256 high) = _span(epochs);
        instances = new uint256[](n * window);
        timestamps = new uint64[](n);
        uint256 first = low - window;
        if (high - first < MAX_SHARED_SPAN && (high >> 64) == (first >> 64)) {
            // Overlapping windows (consecutive epochs of a batch): read each round once.
            _fillShared(epochs, first, high, instances, timestamps);
        } else {
            for (uint256 k = 0; k < n; ++k) {
                timestamps[k] = _fillOne(epochs[k], instances, k * window);
            }
        }
    }

    /// @dev One epoch's window read on its own; returns its timestamp.
    function _fillOne(uint256 epoch, uint256[] memory instances, uint256 at) private view returns (uint64) {
        (int256[] memory prices, uint64[] memory times, bool allGood) = _rounds(epoch - window, epoch);
        if (allGood) {
            _fill(instances, at, prices, 0);
            // One branch on an immutable when the breaker is off.
            if (maxChangeBps != 0) _checkBreaker(epoch, prices, 0, epoch - window);
        } else {
            _fillSkipping(epoch, instances, at);
        }
        return times[window];
    }

    /// @dev The lowest and highest epoch; each must have `window` rounds before it in its phase.
    function _span(uint256[] calldata epochs) private view returns (uint256 low, uint256 high) {
        low = type(uint256).max;
        for (uint256 k = 0; k < epochs.length; ++k) {
            uint256 e = epochs[k];
            // Inside one phase: the window's first round (E - window) is a real round (>= 1).
            if (e > type(uint80).max || (e & PHASE_MASK) <= window) revert EpochOutOfRange(e);
            if (e < low) low = e;
            if (e > high) high = e;
        }
    }

    function _fillShared(
        uint256[] calldata epochs,
        uint256 first,
        uint256 high,
        uint256[] memory instances,
        uint64[] memory timestamps
    ) private view {
        (int256[] memory prices, uint64[] memory times, bool allGood) = _rounds(first, high);
        for (uint256 k = 0; k < epochs.length; ++k) {
            uint256 end = epochs[k] - first;
            if (allGood || _clean(prices, end - window, first)) {
                _fill(instances, k * window, prices, end - window);
                if (maxChangeBps != 0) _checkBreaker(epochs[k], prices, end - window, epochs[k] - window);
            } else {
                _fillSkipping(epochs[k], instances, k * window);
            }
            timestamps[k] = times[end];
        }
    }

    /// @notice q = round(multiplier * 2^inputScale * (price - previous) / previous), halves away from zero.
    function quantizedReturn(int256 previous, int256 price) public view returns (int256) {
        int256 num = int256(multiplier << inputScale) * (price - previous);
        int256 den = previous;
        // round(|num| / den) = floor((2|num| + den) / (2 den)) for den > 0.
        int256 magnitude = (2 * (num < 0 ? -num : num) + den) / (2 * den);
        return num < 0 ? -magnitude : magnitude;
    }

    /// @dev Whether every round of the window ending at prices[start + window] is good (a round another
    ///      epoch of the batch does not use may be missing or bad).
    function _clean(int256[] memory prices, uint256 start, uint256 first) private view returns (bool) {
        uint256 w = window;
        if (start + w >= prices.length) revert EpochOutOfRange(first + start);
        // Unchecked: the index is checked above.
        unchecked {
            for (uint256 j = start; j <= start + w; ++j) {
                int256 p;
                assembly {
                    p := mload(add(add(prices, 0x20), shl(5, j)))
                }
                if (p == 0) return false;
            }
        }
        return true;
    }

    /// @dev Writes the returns of the window ending at prices[start + window], all of whose rounds are good.
    function _fill(uint256[] memory out, uint256 at, int256[] memory prices, uint256 start) private view {
        uint256 w = window;
        if (start + w >= prices.length || at + w > out.length) revert EpochOutOfRange(start);
        int256 factor = int256(multiplier << inputScale);
        // Unchecked: indices checked above; 0 < price <= int192 max (_round), factor < 2^52, so |num| < 2^245.
        unchecked {
            for (uint256 i = 0; i < w; ++i) {
                int256 previous;
                int256 price;
                assembly {
                    let ptr := add(add(prices, 0x20), shl(5, add(start, i)))
                    previous := mload(ptr)
                    price := mload(add(ptr, 0x20))
                }
                int256 num = factor * (price - previous);
                uint256 magnitude = uint256((2 * (num < 0 ? -num : num) + previous) / (2 * previous));
                // A negative return that rounds to 0 is the field element 0, never p.
                uint256 q = (num < 0 && magnitude != 0) ? FixedPoint.FIELD_MODULUS - magnitude : magnitude;
                assembly {
                    mstore(add(add(out, 0x20), shl(5, add(at, i))), q)
                }
            }
        }
    }

    /// @dev The slow path for a window holding a bad round: walks back from the epoch round by round,
    ///      keeping the latest `window + 1` good rounds, and writes their returns.
    function _fillSkipping(uint256 epoch, uint256[] memory out, uint256 at) private view {
        uint256 w = window;
        int256[] memory prices = new int256[](w + 1);
        // The rounds of prices, for the circuit breaker's error (the window's rounds are not consecutive here).
        uint256[] memory ids = new uint256[](w + 1);
        uint256 found;
        uint256 skipped;
        for (uint256 id = epoch; found <= w; --id) {
            // No round 0 in a phase: the phase holds too few good rounds before the epoch.
            if ((id & PHASE_MASK) == 0) revert EpochOutOfRange(epoch);
            (int256 p,) = _round(uint80(id));
            if (p != 0) {
                prices[w - found] = p;
                ids[w - found] = id;
                ++found;
            } else if (id == epoch || ++skipped > MAX_SKIPPED) {
                revert BadRound(uint80(id));
            }
        }
        _fill(out, at, prices, 0);
        if (maxChangeBps != 0) {
            uint256 i = _breaks(prices, 0);
            if (i != 0) revert CircuitBreaker(epoch, uint80(ids[i]));
        }
    }

    /// @dev Reverts CircuitBreaker when the window starting at prices[start] (rounds firstRound, firstRound + 1, ...)
    ///      holds a change above maxChangeBps; the round named is the later one of the pair.
    function _checkBreaker(uint256 epoch, int256[] memory prices, uint256 start, uint256 firstRound) private view {
        uint256 i = _breaks(prices, start);
        if (i != 0) revert CircuitBreaker(epoch, uint80(firstRound + i));
    }

    /// @dev The first i in 1..window with |p_i - p_{i-1}| * 10000 > maxChangeBps * p_{i-1} for the window starting at
    ///      prices[start] (all good rounds: _fill and _clean checked them), or 0 when every change is inside the bound.
    function _breaks(int256[] memory prices, uint256 start) private view returns (uint256) {
        uint256 w = window;
        uint256 bound = maxChangeBps;
        if (start + w >= prices.length) revert EpochOutOfRange(start);
        // Unchecked: the indices are checked above; 0 < price < 2^191 and bound <= 1e6, so change * 10000 < 2^205
        // and bound * previous < 2^211: the comparison is exact.
        unchecked {
            for (uint256 i = 1; i <= w; ++i) {
                uint256 previous;
                uint256 price;
                assembly {
                    let ptr := add(add(prices, 0x20), shl(5, add(start, i)))
                    price := mload(ptr)
                    previous := mload(sub(ptr, 0x20))
                }
                uint256 change = price > previous ? price - previous : previous - price;
                if (change * 10_000 > bound * previous) return i;
            }
        }
        return 0;
    }

    /// @dev Rounds first..last (inclusive): prices and updatedAt (a missing or bad round reads as price 0),
    ///      and whether all of them are good (the common case, where no window needs a check).
    function _rounds(uint256 first, uint256 last)
        private
        view
        returns (int256[] memory prices, uint64[] memory times, bool allGood)
    {
        uint256 count = last - first + 1;
        prices = new int256[](count);
        times = new uint64[](count);
        allGood = true;
        for (uint256 i = 0; i < count; ++i) {
            (int256 p, uint64 t) = _round(uint80(first + i));
            if (p == 0) allGood = false;
            prices[i] = p;
            times[i] = t;
        }
    }

    /// @dev One round's price and updatedAt, or (0, 0) for a missing or bad round.
    function _round(uint80 id) private view returns (int256 price, uint64 time) {
        // A feed reverts for a round it does not have (Chainlink: "No data present").
        try feed.getRoundData(id) returns (uint80 answered, int256 answer, uint256, uint256 updatedAt, uint80) {
            if (answered == id && answer > 0 && answer <= type(int192).max && updatedAt != 0) {
                return (answer, uint64(updatedAt));
            }
        } catch {}
    }
}
