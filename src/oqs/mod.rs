//! The qualification system simulator (オンライン資格確認等システム).
